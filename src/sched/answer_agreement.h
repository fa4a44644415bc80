// How far one answer to a prompt is from another's: a fused prefill's (the candidate) from a
// full prefill's (the reference). The KL divergence of their first-token distributions,
// whether their most likely first tokens agree, and how many greedy tokens agree from the
// start. The one comparison that audits (sched/fidelity_audit), `kvfuse ask --audit` and
// `kvfuse bench-rag` report. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <vector>

namespace kvfuse::sched {

struct AnswerComparison {
  double first_token_kl = 0;     // KL(reference || candidate), nats
  bool top1_agrees = false;      // the same most likely first token
  int32_t tokens_compared = 0;   // the reference's greedy tokens
  int32_t tokens_agreeing = 0;   // of those, equal to the candidate's from the first on
  // Every greedy token the same: the same answer (as far as it was generated).
  bool answer_agrees() const { return tokens_agreeing == tokens_compared; }
};

// KL(softmax(reference) || softmax(candidate)) over n_vocab logits, in double.
double FirstTokenKl(const float* reference, const float* candidate, int32_t n_vocab);

// Both answers: their first-token logits ([n_vocab] each) and their greedy tokens. A
// candidate that ended sooner (an end-of-turn token) agrees only as far as its tokens go.
AnswerComparison CompareAnswers(const std::vector<float>& reference_logits, const std::vector<int32_t>& reference_tokens,
                                const std::vector<float>& candidate_logits, const std::vector<int32_t>& candidate_tokens);

}  // namespace kvfuse::sched
