// The RAG workload of shared/design/BENCHMARKS.md section 2: a fixed system prefix,
// k chunks drawn from a pool with Zipf(1.0) popularity in shuffled order, and a
// question, all as random token ids (the speed and fidelity measures need no meaning).
// bench-serve sends the same shape as text (section 4) and shares the chunk draw.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engine/engine.h"

namespace kvfuse::cli {

// Draws chunks of a pool with Zipf(1.0) popularity: the chunk of rank r (from 1) has weight 1 / r.
class ZipfChunkPicker {
 public:
  explicit ZipfChunkPicker(int pool_size);
  // k distinct pool indices in shuffled order; k must not exceed the pool size.
  std::vector<int> Pick(int k, std::mt19937& rng);

 private:
  std::discrete_distribution<int> zipf_;
};

struct RagWorkloadOptions {
  int n_requests = 8;
  int n_history = 8;  // earlier requests of the same kind (adaptive records chunks from them)
  int pool_size = 200;
  int chunks_per_request = 6;
  int chunk_tokens = 250;
  int prefix_tokens = 50;
  int question_tokens = 30;
  uint32_t seed = 42;

  int PromptTokens() const { return prefix_tokens + chunks_per_request * chunk_tokens + question_tokens; }
};

struct RagWorkload {
  std::vector<std::vector<int32_t>> pool;
  std::vector<engine::SegmentedPrompt> requests;
  std::vector<engine::SegmentedPrompt> history;
  std::vector<int> used_chunks;  // pool indices that some request uses
};

// bos < 0: no BOS in front of the prefix. Token ids are drawn from [first_id, n_vocab).
RagWorkload MakeRagWorkload(const RagWorkloadOptions& o, int32_t n_vocab, int32_t bos, int32_t first_id);

}  // namespace kvfuse::cli
