// Per-caller state of forward passes: the thread pool, the kernel table and scratch
// buffers reused between calls. One ForwardContext per thread that runs the model.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernel_table.h"
#include "util/thread_pool.h"

namespace kvfuse::model {

struct ForwardContext {
  explicit ForwardContext(int n_threads, const kernels::KernelTable& k = kernels::BestKernels())
      : pool(n_threads), kernels(&k) {}

  util::ThreadPool pool;
  const kernels::KernelTable* kernels;

  // Scratch, sized on use: [n_tokens, width] each.
  std::vector<float> norm, q, k, v, attn, proj, gate, up;
  std::vector<uint8_t> act_scratch;
};

}  // namespace kvfuse::model
