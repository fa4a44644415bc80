#include "cli/bench/rag_workload.h"

#include <algorithm>
#include <set>

namespace kvfuse::cli {

namespace {

std::vector<double> ZipfWeights(int n) {
  std::vector<double> weights(n);
  for (int r = 0; r < n; ++r) weights[r] = 1.0 / (r + 1);
  return weights;
}

}  // namespace

ZipfChunkPicker::ZipfChunkPicker(int pool_size) {
  const std::vector<double> weights = ZipfWeights(pool_size);
  zipf_ = std::discrete_distribution<int>(weights.begin(), weights.end());
}

std::vector<int> ZipfChunkPicker::Pick(int k, std::mt19937& rng) {
  std::vector<int> picked;
  while (static_cast<int>(picked.size()) < k) {
    const int c = zipf_(rng);
    if (std::find(picked.begin(), picked.end(), c) == picked.end()) picked.push_back(c);
  }
  std::shuffle(picked.begin(), picked.end(), rng);
  return picked;
}

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

  ZipfChunkPicker picker(o.pool_size);
  std::set<int> used;
  const int k = std::min(o.chunks_per_request, o.pool_size);
  for (int q = 0; q < o.n_requests + o.n_history; ++q) {
    engine::SegmentedPrompt p;
    p.prefix = prefix;
    const bool measured = q < o.n_requests;
    for (int c : picker.Pick(k, rng)) {
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
