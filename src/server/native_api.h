// llama-server's own completion API (POST /completion, /completions): its request translated
// into the /v1/completions body the rest of the server parses, and its answers' shapes
// (`content`, `stop`, `stop_type`, `tokens_predicted`, ... and `timings`). Stateless: any
// HTTP worker thread may call.
#pragma once

#include <functional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/openai_api.h"

namespace kvfuse::server {

// The native request as a /v1/completions body: n_predict becomes max_tokens (-1, the
// default: until the end of the turn or of the context); OpenAI's spellings of it,
// stream_options and n other than 1 are refused; the rest passes as it is and is checked
// there (llama.cpp's options at values that ask for nothing, such as mirostat 0, are
// accepted by unhonoured_params, others refused naming them).
// n_probs (0 to 100: each generated token's log-probability with that many alternatives, as
// llama-server's completion_probabilities) is taken out of the body into `n_probs`.
struct NativeRequest {
  nlohmann::json body;
  int n_probs = 0;
};
std::variant<NativeRequest, ApiError> OpenAiBodyOfNative(const nlohmann::json& native);

// The whole answer, and a streamed piece or (final_result set) the last event. With n_probs,
// completion_probabilities: [{id, token, bytes, logprob, top_logprobs: [{id, token, bytes,
// logprob}]}] (log-softmax of the model's logits, llama-server's post_sampling_probs false),
// one entry per token, or a streamed piece's own.
nlohmann::json NativeBody(const std::string& model, const engine::GenerationResult& r,
                          const std::function<std::string(int32_t)>& token_text);
nlohmann::json NativeChunk(const std::string& model, const std::string& piece, const engine::GenerationResult* final_result,
                           const engine::TokenLogprob* logprob, const std::function<std::string(int32_t)>& token_text);

}  // namespace kvfuse::server
