#include "server/native_api.h"

#include "server/completion_reply.h"
#include "server/json_body.h"

namespace kvfuse::server {

using json = nlohmann::json;

namespace {

// llama-server's stop_type: what ended the generation.
const char* StopType(const engine::GenerationResult& r) {
  if (r.finish_reason == "length") return "limit";
  return r.stopping_word.empty() ? "eos" : "word";
}

}  // namespace

std::variant<NativeRequest, ApiError> OpenAiBodyOfNative(const json& native) {
  NativeRequest out;
  json& body = out.body;
  body = native;
  if (HasValue(body, "n_probs")) {
    const json& n = body["n_probs"];
    if (!n.is_number_integer() || n.get<int64_t>() < 0 || n.get<int64_t>() > 100)
      return Invalid("n_probs", "'n_probs' must be a whole number from 0 to 100");
    out.n_probs = static_cast<int>(n.get<int64_t>());
  }
  body.erase("n_probs");
  for (const char* name : {"max_tokens", "max_completion_tokens"})
    if (body.contains(name)) return Invalid(name, std::string("/completion takes 'n_predict', not '") + name + "'");
  if (body.contains("stream_options")) return Invalid("stream_options", "/completion streams have no stream_options");
  if (HasValue(body, "logprobs"))
    return Invalid("logprobs", "/completion's probabilities are 'n_probs' (not returned): 'logprobs' is /v1's");
  if (HasValue(body, "n") && body["n"] != 1)
    return Invalid("n", "/completion answers one choice: several are /v1/completions' 'n'");
  if (HasValue(body, "n_predict")) {
    const json& n = body["n_predict"];
    if (!n.is_number_integer() || n.get<int64_t>() < -1 || n.get<int64_t>() == 0 || n.get<int64_t>() > 1'000'000)
      return Invalid("n_predict", "'n_predict' must be -1 (until the end) or a whole number from 1 to 1000000");
    body["max_tokens"] = n.get<int64_t>() == -1 ? json(1'000'000) : n;  // the server clamps it to the context
  } else {
    body["max_tokens"] = 1'000'000;
  }
  body.erase("n_predict");
  return out;
}

json NativeBody(const std::string& model, const engine::GenerationResult& r,
                const std::function<std::string(int32_t)>& token_text) {
  json body = {{"content", r.text},
          {"stop", true},
          {"model", model},
          {"tokens_predicted", r.completion_tokens},
          {"tokens_evaluated", r.prompt_tokens},
          {"tokens_cached", r.cached_tokens},
          {"truncated", false},
          {"stop_type", StopType(r)},
          {"stopping_word", r.stopping_word},
          {"timings", TimingsOf(r)}};
  if (!r.logprobs.empty()) body["completion_probabilities"] = TokenLogprobEntries(r.logprobs, token_text, /*with_ids=*/true);
  return body;
}

json NativeChunk(const std::string& model, const std::string& piece, const engine::GenerationResult* final_result,
                 const engine::TokenLogprob* logprob, const std::function<std::string(int32_t)>& token_text) {
  if (!final_result) {
    json chunk = {{"content", piece}, {"stop", false}};
    if (logprob) chunk["completion_probabilities"] = TokenLogprobEntries({*logprob}, token_text, /*with_ids=*/true);
    return chunk;
  }
  json last = NativeBody(model, *final_result, token_text);
  last["content"] = "";
  last.erase("completion_probabilities");  // each piece carried its own
  return last;
}

}  // namespace kvfuse::server
