#include "sched/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace kvfuse::sched {

int32_t ArgMax(const float* logits, int32_t n_vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + n_vocab) - logits);
}

int32_t Sampler::Sample(const float* logits, int32_t n_vocab) {
  if (params_.temperature <= 0) return ArgMax(logits, n_vocab);
  std::vector<int32_t> ids(n_vocab);
  std::iota(ids.begin(), ids.end(), 0);
  int32_t k = params_.top_k > 0 ? std::min(params_.top_k, n_vocab) : n_vocab;
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  ids.resize(k);
  std::vector<double> probs(k);
  const double max = logits[ids[0]];
  double sum = 0;
  for (int32_t i = 0; i < k; ++i) {
    probs[i] = std::exp((logits[ids[i]] - max) / params_.temperature);
    sum += probs[i];
  }
  int32_t kept_by_min_p = k;
  for (int32_t i = 1; i < k; ++i)
    if (probs[i] < params_.min_p) {  // probs[i] is relative to the most likely token (1.0)
      kept_by_min_p = i;
      break;
    }
  k = kept_by_min_p;
  sum = std::accumulate(probs.begin(), probs.begin() + k, 0.0);
  double cumulative = 0;
  int32_t keep = k;
  for (int32_t i = 0; i < k; ++i) {
    cumulative += probs[i] / sum;
    if (cumulative >= params_.top_p) {
      keep = i + 1;
      break;
    }
  }
  std::discrete_distribution<int32_t> pick(probs.begin(), probs.begin() + keep);
  return ids[pick(rng_)];
}

}  // namespace kvfuse::sched
