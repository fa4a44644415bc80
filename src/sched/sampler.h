// Token sampling from logits: greedy at temperature 0, else temperature, top-k, min-p
// (tokens below min_p times the most likely one's probability go) and top-p (nucleus)
// filtering with a seeded generator.
#pragma once

#include <cstdint>
#include <random>

namespace kvfuse::sched {

struct SamplingParams {
  float temperature = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  uint64_t seed = 0;
  float min_p = 0.0f;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}
  int32_t Sample(const float* logits, int32_t n_vocab);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

int32_t ArgMax(const float* logits, int32_t n_vocab);

}  // namespace kvfuse::sched
