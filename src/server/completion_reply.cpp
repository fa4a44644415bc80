#include "server/completion_reply.h"

#include <cstdio>

namespace kvfuse::server {

using json = nlohmann::json;

std::string SystemFingerprint(uint64_t model_fingerprint) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(model_fingerprint));
  return std::string("kvfuse-") + hex;
}

json TimingsOf(const engine::GenerationResult& r) {
  return {{"prompt_n", r.prompt_tokens},
          {"prompt_ms", r.prompt_ms},
          {"cache_n", r.cached_tokens},
          {"predicted_n", r.completion_tokens},
          {"predicted_ms", r.predicted_ms},
          {"predicted_per_second", r.predicted_ms > 0 ? 1000.0 * r.completion_tokens / r.predicted_ms : 0.0},
          {"chunk_hits", r.fusion.chunk_hits},
          {"chunk_misses", r.fusion.chunk_misses},
          {"tokens_recomputed", r.fusion.tokens_computed + r.fusion.chunk_tokens_recomputed}};
}

namespace {

json Usage(const engine::GenerationResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

json Envelope(const CompletionReply& reply, const char* object, json choices) {
  return {{"id", reply.id},
          {"object", object},
          {"created", reply.created},
          {"model", reply.model},
          {"system_fingerprint", reply.system_fingerprint},
          {"choices", std::move(choices)}};
}

const char* ChunkObject(const CompletionReply& reply) {
  return reply.chat ? "chat.completion.chunk" : "text_completion";
}

}  // namespace

json CompletionBody(const CompletionReply& reply, const engine::GenerationResult& r) {
  json choice = {{"index", 0}, {"finish_reason", r.finish_reason}};
  if (reply.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", r.text}};
  } else {
    choice["text"] = r.text;
  }
  choice["logprobs"] = nullptr;
  json body = Envelope(reply, reply.chat ? "chat.completion" : "text_completion", json::array({choice}));
  body["usage"] = Usage(r);
  body["timings"] = TimingsOf(r);
  if (!reply.document_ids.empty()) body["documents_used"] = reply.document_ids;
  return body;
}

json StreamChunk(const CompletionReply& reply, const std::string& piece, const engine::GenerationResult* final_result) {
  json choice = {{"index", 0}, {"finish_reason", final_result ? json(final_result->finish_reason) : json(nullptr)}};
  if (reply.chat) {
    choice["delta"] = final_result ? json::object() : json{{"content", piece}};
  } else {
    choice["text"] = final_result ? "" : piece;
  }
  json chunk = Envelope(reply, ChunkObject(reply), json::array({choice}));
  if (final_result) {
    if (reply.stream_usage == StreamUsage::kOnFinishChunk) chunk["usage"] = Usage(*final_result);
    chunk["timings"] = TimingsOf(*final_result);
  }
  return chunk;
}

json UsageChunk(const CompletionReply& reply, const engine::GenerationResult& r) {
  json chunk = Envelope(reply, ChunkObject(reply), json::array());
  chunk["usage"] = Usage(r);
  return chunk;
}

}  // namespace kvfuse::server
