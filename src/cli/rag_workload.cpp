#include "cli/rag_workload.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

namespace kvfuse::cli {

RagWorkload MakeRagWorkload(const RagWorkloadOptions& o, int32_t n_vocab, int32_t bos, int32_t first_id) {
  std::mt19937 rng(o.seed);
  std::uniform_int_distribution<int32_t> token(first_id, n_vocab - 1);
  auto tokens = [&](int n) {
    std::vector<int32_t> t(n);
    for (auto& x : t) x = token(rng);
    return t;
  };
  RagWorkload w;
  for (int i = 0; i < o.pool_size; ++i) w.pool.push_back(tokens(o.chunk_tokens));
  std::vector<int32_t> prefix = tokens(o.prefix_tokens);
  if (bos >= 0 && !prefix.empty()) prefix[0] = bos;

  // Zipf(1.0): chunk of rank r drawn with weight 1 / r.
  std::vector<double> weights(o.pool_size);
  for (int r = 0; r < o.pool_size; ++r) weights[r] = 1.0 / (r + 1);
  std::discrete_distribution<int> zipf(weights.begin(), weights.end());
  std::set<int> used;
  const int k = std::min(o.chunks_per_request, o.pool_size);
  for (int q = 0; q < o.n_requests + o.n_history; ++q) {
    std::vector<int> picked;
    while (static_cast<int>(picked.size()) < k) {
      const int c = zipf(rng);
      if (std::find(picked.begin(), picked.end(), c) == picked.end()) picked.push_back(c);
    }
    std::shuffle(picked.begin(), picked.end(), rng);
    engine::SegmentedPrompt p;
    p.prefix = prefix;
    const bool measured = q < o.n_requests;
    for (int c : picked) {
      p.chunks.push_back(w.pool[c]);
      if (measured) used.insert(c);
    }
    p.suffix = tokens(o.question_tokens);
    (measured ? w.requests : w.history).push_back(std::move(p));
  }
  w.used_chunks.assign(used.begin(), used.end());
  return w;
}

}  // namespace kvfuse::cli
