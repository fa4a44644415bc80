// Per-caller state of forward passes: the thread pool, the kernel table and scratch
// buffers reused between calls. One ForwardContext per thread that runs the model.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernel_table.h"
#include "util/thread_pool.h"

namespace kvfuse::model {

// Optional: where attention probability mass goes, by segment of the prompt (what
// Cache-Craft records when it caches a chunk). Position p of the attended sequence
// belongs to segment segment_of_pos[p] (-1: not counted). After a forward pass,
// mass[(row * n_heads + head) * n_segments + s] holds the attention of batch row `row`,
// head `head`, to segment s, summed over the layers run.
struct AttentionRecorder {
  std::vector<int32_t> segment_of_pos;
  int n_segments = 0;
  int n_heads = 0;
  std::vector<float> mass;
  void Reset(int n_rows) { mass.assign(static_cast<size_t>(n_rows) * n_heads * n_segments, 0.0f); }
};

struct ForwardContext {
  explicit ForwardContext(int n_threads, const kernels::KernelTable& k = kernels::BestKernels())
      : pool(n_threads), kernels(&k) {}

  util::ThreadPool pool;
  const kernels::KernelTable* kernels;

  AttentionRecorder* recorder = nullptr;  // set by the caller for one pass, then cleared

  // Scratch, sized on use: [n_tokens, width] each.
  std::vector<float> norm, q, k, v, attn, proj, gate, up;
  std::vector<uint8_t> act_scratch;
};

}  // namespace kvfuse::model
