// Token sampling from logits, within a grammar when the request has one: first the logit bias (added to the given tokens' logits) and
// the repetition penalties over the tokens this sampler has returned so far (the answer
// generated up to now), then greedy at temperature 0, else
// temperature, top-k, min-p (tokens below min_p times the most likely one's probability go)
// and top-p (nucleus) filtering with a seeded generator.
// Penalties, as OpenAI and llama.cpp define them: a token generated c > 0 times has its logit
// lowered by presence_penalty + c * frequency_penalty; a token among the last repeat_last_n
// generated (-1: all of them) has its logit divided by repeat_penalty when positive and
// multiplied by it when negative.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sched/grammar/token_grammar.h"

namespace kvfuse::sched {

struct SamplingParams {
  float temperature = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  uint64_t seed = 0;
  float min_p = 0.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  std::vector<std::pair<int32_t, float>> logit_bias = {};  // token id, added to its logit
  // Only tokens that keep the text a prefix of the grammar's sentences (JSON mode, a JSON
  // schema, a GBNF grammar, a forced tool call); an end-of-turn token once it is whole.
  std::shared_ptr<const grammar::TokenGrammar> grammar = nullptr;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // The next token; it counts as generated for the penalties of the tokens after it.
  int32_t Sample(const float* logits, int32_t n_vocab);
  // Whether the grammar could not choose the last token within its work bound
  // (grammar::kMaxMaskWork): the generation must end with an error, its last token is not
  // the grammar's.
  bool grammar_over_budget() const { return grammar_ && grammar_->over_budget(); }

 private:
  // Whether the bias or a penalty changes any logit now.
  bool Adjusts() const;
  // `logits` with the bias and the penalties applied.
  std::vector<float> Adjusted(const float* logits, int32_t n_vocab) const;
  int32_t SampleFiltered(const float* logits, int32_t n_vocab);

  // With a grammar: the token sampled as if there were none when the grammar allows it, else
  // one sampled again from the allowed tokens only (as llama.cpp does: the grammar is checked
  // on one token, not on the whole vocabulary, unless that token is refused).
  int32_t SampleAllowed(const float* logits, int32_t n_vocab);

  SamplingParams params_;
  std::optional<grammar::TokenMatcher> grammar_;
  std::mt19937_64 rng_;
  std::vector<int32_t> generated_;
  std::unordered_map<int32_t, int32_t> counts_;  // of generated_
};

int32_t ArgMax(const float* logits, int32_t n_vocab);

// A generated token's log-probability under the model (the log-softmax of the raw logits,
// before bias, penalties, temperature and filters) and the `top` most likely tokens' (most
// likely first).
struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;
};
TokenLogprob LogprobOf(const float* logits, int32_t n_vocab, int32_t token, int32_t top);

}  // namespace kvfuse::sched
