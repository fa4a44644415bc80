// How much prefill one scheduler iteration may run so the requests already decoding keep
// their time per output token near a target (Sarathi-Serve's budget, from measurements):
// prefill tokens = (target - decode step time) / seconds per prefill token, both measured
// on this machine as the server runs (moving averages), within [kMinPrefillTokens,
// batch_tokens - decodes]. With nothing decoding, no stream waits: the whole batch_tokens.
// The target is a time, or a multiple of the measured decode step (then it follows the
// machine: on a shared host whose speed halves and doubles, a fixed time is a loose target
// in a fast phase and one the decode alone overruns in a slow one), or the shorter of both.
//
// Threading: the scheduler's thread.
#pragma once

#include <cstdint>

namespace kvfuse::sched {

class IterationBudget {
 public:
  // Prefill never stops behind decodes. Small, so that a tight target is honoured: a RAG
  // prompt's step of 4 tokens of work is still 4 x n_layers tokens of layer work, run as
  // whole layers or pieces of a layer's tokens, batches of tens of tokens.
  static constexpr int32_t kMinPrefillTokens = 4;

  // tpot_target_seconds <= 0 and decode_multiple <= 0: no target, every iteration may run
  // batch_tokens. decode_multiple > 0: an iteration may last that many decode steps.
  IterationBudget(int32_t batch_tokens, double tpot_target_seconds, double decode_multiple = 0);

  // Prefill tokens the next iteration may run after decoding `decodes` streams.
  int32_t PrefillTokens(int32_t decodes) const;
  // Tokens of prefill work that take about `seconds` by the measured cost (kMinPrefillTokens
  // until one is measured), within [kMinPrefillTokens, batch_tokens]: a background step's size.
  int32_t TokensWithin(double seconds) const;
  // What an iteration cost: its decode step (when it had one) and its prefill work.
  void ObserveDecode(double seconds);
  void ObservePrefill(int32_t tokens, double seconds);

  int32_t batch_tokens() const { return batch_tokens_; }

 private:
  const int32_t batch_tokens_;
  const double target_;
  const double decode_multiple_;
  double decode_seconds_ = -1;  // moving average; < 0 until measured
  // Moving averages of a prefill's seconds and tokens; their ratio is the cost per token, so
  // a small step's fixed costs weigh by its few tokens and an estimate too high corrects
  // itself from the small steps it causes.
  double prefill_seconds_ = -1, prefill_tokens_ = -1;
};

}  // namespace kvfuse::sched
