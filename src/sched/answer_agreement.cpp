#include "sched/answer_agreement.h"

#include <algorithm>
#include <cmath>

#include "sched/sampler.h"
#include "util/log_sum_exp.h"
#include "util/status.h"

namespace kvfuse::sched {

double FirstTokenKl(const float* reference, const float* candidate, int32_t n_vocab) {
  const double lse_p = util::LogSumExp(reference, n_vocab), lse_q = util::LogSumExp(candidate, n_vocab);
  double kl = 0;
  for (int32_t i = 0; i < n_vocab; ++i) {
    const double log_p = reference[i] - lse_p, log_q = candidate[i] - lse_q;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  return std::max(0.0, kl);  // rounding can leave a tiny negative for equal distributions
}

AnswerComparison CompareAnswers(const std::vector<float>& reference_logits, const std::vector<int32_t>& reference_tokens,
                                const std::vector<float>& candidate_logits,
                                const std::vector<int32_t>& candidate_tokens) {
  KVFUSE_CHECK(reference_logits.size() == candidate_logits.size() && !reference_logits.empty());
  const auto n_vocab = static_cast<int32_t>(reference_logits.size());
  AnswerComparison c;
  c.first_token_kl = FirstTokenKl(reference_logits.data(), candidate_logits.data(), n_vocab);
  c.top1_agrees = ArgMax(reference_logits.data(), n_vocab) == ArgMax(candidate_logits.data(), n_vocab);
  c.tokens_compared = static_cast<int32_t>(reference_tokens.size());
  const size_t n = std::min(reference_tokens.size(), candidate_tokens.size());
  while (c.tokens_agreeing < static_cast<int32_t>(n) && reference_tokens[c.tokens_agreeing] == candidate_tokens[c.tokens_agreeing])
    ++c.tokens_agreeing;
  return c;
}

}  // namespace kvfuse::sched
