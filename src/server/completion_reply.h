// The bodies a completion is answered with, whole or as stream chunks, in OpenAI's shapes
// (with llama-server's `timings` and kvfuse's `documents_used` beside them). Stateless: any
// HTTP worker thread may call.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
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

// How a model writes tool calls (server/tool_calls.h).
enum class ToolSyntax { kHermes, kLlama3Json };

// What every body of one completion carries besides the generation.
struct CompletionReply {
  bool chat = false;
  bool native = false;  // llama-server's /completion: its shapes (server/native_api.h), no [DONE]
  std::string id, model;
  int64_t created = 0;
  std::string system_fingerprint;
  std::vector<std::string> document_ids;  // of the chunk segments, in prompt order
  StreamUsage stream_usage = StreamUsage::kOnFinishChunk;
  bool logprobs = false;                          // the request asked for them
  std::optional<ToolSyntax> tool_calls;           // read calls out of the answer (server/tool_calls)
  bool parallel_tool_calls = true;                // false: the first call only
  std::function<std::string(int32_t)> token_text;  // a token's text, for logprobs
};

// "kvfuse-" and 16 hex digits: the same for every response of one model file, another for
// another model (OpenAI's promise: same fingerprint and seed, same backend behaviour).
std::string SystemFingerprint(uint64_t model_fingerprint);

// Tokens with their logprobs as OpenAI's chat logprobs.content shows them: token text,
// bytes, logprob and top_logprobs of the same; with_ids adds each token's id (llama-server's
// completion_probabilities).
nlohmann::json TokenLogprobEntries(const std::vector<engine::TokenLogprob>& tokens,
                                   const std::function<std::string(int32_t)>& token_text, bool with_ids);

// The choices of one request, choice i at index i (`n` of them; one by default).
using Choices = std::vector<const engine::GenerationResult*>;

// The whole response of a non-streaming request: usage counts the prompt once and the
// tokens of every choice; timings are the first choice's.
nlohmann::json CompletionBody(const CompletionReply& reply, const Choices& choices);
// A chat choice's message: the text, or with tool calls read out of it (then finish_reason
// "tool_calls" in place of "stop").
nlohmann::json AssistantMessage(const CompletionReply& reply, int index, const engine::GenerationResult& r,
                                std::string* finish_reason);
// One SSE chunk of choice `index`: a piece of text, or (final_result set) the one with
// finish_reason and timings (and usage, when reply.stream_usage says so, on the last choice's).
// `logprob`: the piece's token's, when the request asked; `offset`: where the piece starts
// in its choice's text (the legacy logprobs' text_offset).
nlohmann::json StreamChunk(const CompletionReply& reply, int index, const std::string& piece,
                           const engine::GenerationResult* final_result, const engine::TokenLogprob* logprob = nullptr,
                           size_t offset = 0);
// OpenAI's usage object of the choices.
nlohmann::json UsageOf(const Choices& choices);
// The chunk after the finish chunks when stream_usage is kSeparateChunk.
nlohmann::json UsageChunk(const CompletionReply& reply, const Choices& choices);
// A float as the decimal it was written as (0.15, not 0.15000000596...): for shares in JSON.
double FloatAsWritten(float v);
nlohmann::json TimingsOf(const engine::GenerationResult& r);

}  // namespace kvfuse::server
