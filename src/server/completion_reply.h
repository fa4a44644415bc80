// The bodies a completion is answered with, whole or as stream chunks, in OpenAI's shapes
// (with llama-server's `timings` and kvfuse's `documents_used` beside them). Stateless: any
// HTTP worker thread may call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace kvfuse::server {

// Where a streamed answer reports token usage (stream_options.include_usage).
enum class StreamUsage {
  kOnFinishChunk,   // not asked: on the chunk with finish_reason, as llama-server does
  kSeparateChunk,   // true: a last chunk of its own with `choices: []`, as OpenAI does
  kNone,            // false
};

// What every body of one completion carries besides the generation.
struct CompletionReply {
  bool chat = false;
  bool native = false;  // llama-server's /completion: its shapes (server/native_api.h), no [DONE]
  std::string id, model;
  int64_t created = 0;
  std::string system_fingerprint;
  std::vector<std::string> document_ids;  // of the chunk segments, in prompt order
  StreamUsage stream_usage = StreamUsage::kOnFinishChunk;
};

// "kvfuse-" and 16 hex digits: the same for every response of one model file, another for
// another model (OpenAI's promise: same fingerprint and seed, same backend behaviour).
std::string SystemFingerprint(uint64_t model_fingerprint);

// The whole response of a non-streaming request.
nlohmann::json CompletionBody(const CompletionReply& reply, const engine::GenerationResult& r);
// One SSE chunk: a piece of text, or (final_result set) the one with finish_reason and
// timings (and usage, when reply.stream_usage says so).
nlohmann::json StreamChunk(const CompletionReply& reply, const std::string& piece,
                           const engine::GenerationResult* final_result);
// The chunk after the finish chunk when stream_usage is kSeparateChunk.
nlohmann::json UsageChunk(const CompletionReply& reply, const engine::GenerationResult& r);
nlohmann::json TimingsOf(const engine::GenerationResult& r);

}  // namespace kvfuse::server
