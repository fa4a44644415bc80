#include "server/completion_reply.h"
#include "server/tool_calls.h"

#include <cstdio>
#include <cstdlib>

namespace kvfuse::server {

using json = nlohmann::json;

std::string SystemFingerprint(uint64_t model_fingerprint) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(model_fingerprint));
  return std::string("kvfuse-") + hex;
}

double FloatAsWritten(float v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", v);
  return std::strtod(text, nullptr);
}

json TimingsOf(const engine::GenerationResult& r) {
  json t = {{"prompt_n", r.prompt_tokens},
          {"prompt_ms", r.prompt_ms},
          {"cache_n", r.cached_tokens},
          {"predicted_n", r.completion_tokens},
          {"predicted_ms", r.predicted_ms},
          {"predicted_per_second", r.predicted_ms > 0 ? 1000.0 * r.completion_tokens / r.predicted_ms : 0.0},
          {"chunk_hits", r.fusion.chunk_hits},
          {"chunk_misses", r.fusion.chunk_misses},
          {"tokens_recomputed", r.fusion.tokens_computed + r.fusion.chunk_tokens_recomputed}};
  // kvfuse's: for each chunk of a fused prompt, in documents_used's order, whether its KV came
  // from the chunk store.
  if (!r.fusion.chunk_from_cache.empty()) t["chunks_from_cache"] = r.fusion.chunk_from_cache;
  // The recompute share the fused prefill ran at (the client's, or its collection's from the
  // fidelity controller), for modes that have one.
  if (r.fusion.recompute_ratio >= 0) t["recompute_share"] = FloatAsWritten(r.fusion.recompute_ratio);
  // Unsure of its first token (rag.fallback_below), the fused prefill was redone in full.
  if (r.fusion.fell_back) t["redone_in_full"] = true;
  return t;
}

namespace {

}  // namespace

json UsageOf(const Choices& choices) {
  int32_t completion = 0;
  for (const engine::GenerationResult* r : choices) completion += r->completion_tokens;
  const engine::GenerationResult& first = *choices.front();
  return {{"prompt_tokens", first.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", first.prompt_tokens + completion},
          {"prompt_tokens_details", {{"cached_tokens", first.cached_tokens}}}};
}

json TokenLogprobEntries(const std::vector<engine::TokenLogprob>& tokens,
                         const std::function<std::string(int32_t)>& token_text, bool with_ids) {
  const auto entry = [&](int32_t token, float logprob) {
    const std::string text = token_text(token);
    json e = {{"token", text}, {"logprob", logprob}, {"bytes", std::vector<uint8_t>(text.begin(), text.end())}};
    if (with_ids) e["id"] = token;
    return e;
  };
  json out = json::array();
  for (const engine::TokenLogprob& t : tokens) {
    json e = entry(t.token, t.logprob);
    e["top_logprobs"] = json::array();
    for (const auto& [id, lp] : t.top) e["top_logprobs"].push_back(entry(id, lp));
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

json Envelope(const CompletionReply& reply, const char* object, json choices) {
  return {{"id", reply.id},
          {"object", object},
          {"created", reply.created},
          {"model", reply.model},
          {"system_fingerprint", reply.system_fingerprint},
          {"choices", std::move(choices)}};
}


// The `logprobs` of a choice for these tokens: chat's {content: [...]}, or the legacy
// {tokens, token_logprobs, top_logprobs, text_offset} with offsets from `offset`.
json LogprobsOf(const CompletionReply& reply, const std::vector<engine::TokenLogprob>& tokens, size_t offset) {
  if (reply.chat) return {{"content", TokenLogprobEntries(tokens, reply.token_text, /*with_ids=*/false)}};
  json out = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  for (const engine::TokenLogprob& t : tokens) {
    const std::string text = reply.token_text(t.token);
    out["tokens"].push_back(text);
    out["token_logprobs"].push_back(t.logprob);
    json top = json::object();  // keyed by text: the likeliest of tokens that read alike
    for (const auto& [id, lp] : t.top)
      if (const std::string alternative = reply.token_text(id); !top.contains(alternative)) top[alternative] = lp;
    if (!t.top.empty() && !top.contains(text)) top[text] = t.logprob;  // OpenAI adds the chosen token
    out["top_logprobs"].push_back(std::move(top));
    out["text_offset"].push_back(offset);
    offset += text.size();
  }
  return out;
}

const char* ChunkObject(const CompletionReply& reply) {
  return reply.chat ? "chat.completion.chunk" : "text_completion";
}

}  // namespace

json AssistantMessage(const CompletionReply& reply, int index, const engine::GenerationResult& r, std::string* finish_reason) {
  *finish_reason = r.finish_reason;
  if (!reply.tool_calls) return {{"role", "assistant"}, {"content", r.text}};
  const ToolCallAnswer answer = ParseToolCalls(r.text, *reply.tool_calls, "call_" + reply.id + "_" + std::to_string(index) + "_");
  json message = {{"role", "assistant"}, {"content", answer.content ? json(*answer.content) : json(nullptr)}};
  if (!answer.tool_calls.empty()) {
    message["tool_calls"] = reply.parallel_tool_calls ? answer.tool_calls : json::array({answer.tool_calls[0]});
    if (r.finish_reason == "stop") *finish_reason = "tool_calls";
  }
  return message;
}

json CompletionBody(const CompletionReply& reply, const Choices& choices) {
  json list = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const engine::GenerationResult& r = *choices[i];
    json choice = {{"index", i}, {"finish_reason", r.finish_reason}};
    if (reply.chat) {
      std::string finish;
      choice["message"] = AssistantMessage(reply, static_cast<int>(i), r, &finish);
      choice["finish_reason"] = finish;
    } else {
      choice["text"] = r.text;
    }
    choice["logprobs"] = reply.logprobs ? LogprobsOf(reply, r.logprobs, 0) : json(nullptr);
    list.push_back(std::move(choice));
  }
  json body = Envelope(reply, reply.chat ? "chat.completion" : "text_completion", std::move(list));
  body["usage"] = UsageOf(choices);
  body["timings"] = TimingsOf(*choices.front());
  if (!reply.document_ids.empty()) body["documents_used"] = reply.document_ids;
  return body;
}

json StreamChunk(const CompletionReply& reply, int index, const std::string& piece,
                 const engine::GenerationResult* final_result, const engine::TokenLogprob* logprob, size_t offset) {
  json choice = {{"index", index}, {"finish_reason", final_result ? json(final_result->finish_reason) : json(nullptr)}};
  if (logprob) choice["logprobs"] = LogprobsOf(reply, {*logprob}, offset);
  if (reply.chat) {
    choice["delta"] = final_result ? json::object() : json{{"content", piece}};
  } else {
    choice["text"] = final_result ? "" : piece;
  }
  json chunk = Envelope(reply, ChunkObject(reply), json::array({choice}));
  if (final_result) chunk["timings"] = TimingsOf(*final_result);
  return chunk;
}

json UsageChunk(const CompletionReply& reply, const Choices& choices) {
  json chunk = Envelope(reply, ChunkObject(reply), json::array());
  chunk["usage"] = UsageOf(choices);
  return chunk;
}

}  // namespace kvfuse::server
