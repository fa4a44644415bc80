// Per-caller state of forward passes: the thread pool, the kernel table and scratch
// buffers reused between calls. One ForwardContext per thread that runs the model.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/kernel_table.h"
#include "util/thread_pool.h"

namespace kvfuse::model {

// Optional: where attention probability mass goes, by segment of the prompt (what
// Cache-Craft records when it caches a chunk). Position p of the attended sequence
// belongs to segment segment_of_pos[p] (-1: not counted). After a forward pass,
// mass[((row - first_row) * n_heads + head) * n_segments + s] holds the attention of batch
// row `row` (>= first_row), head `head`, to segment s, summed over the layers run.
struct AttentionRecorder {
  std::vector<int32_t> segment_of_pos;
  int n_segments = 0;
  int n_heads = 0;
  std::vector<float> mass;
  int32_t first_row = 0;  // the batch's rows before it are not recorded
  // Added to a row of the batch running to find its row of the whole batch: Model::RunLayers
  // sets it while a piece of a batch runs alone (the piece's row 0 is the batch's row
  // row_offset).
  int32_t row_offset = 0;
  void Reset(int n_rows) { mass.assign(static_cast<size_t>(n_rows) * n_heads * n_segments, 0.0f); }
  // Row t of the batch (or of the piece running), or -1 when it is not recorded.
  int32_t RowOf(int t) const { return t + row_offset >= first_row ? t + row_offset - first_row : -1; }
};

// Optional: told before every layer a forward pass runs (Model::RunLayers); it may block
// there, which divides a long pass into steps. A batch divisible by tokens (one sequence,
// ascending positions, none attending past its own: DivisibleByTokens) may also run a layer
// a piece of its tokens at a time, the first ones first, with the same results bit for bit.
class LayerGate {
 public:
  virtual ~LayerGate() = default;
  // Before the `n_tokens` tokens of the batch not yet through this layer run it: how many of
  // them run now, all unless `divisible`, else 1..n_tokens (the rest are offered next, before
  // any later layer).
  virtual int32_t BeforeLayer(int32_t n_tokens, bool divisible) = 0;
  // Before work of a pass that is no layer (placing a cached chunk's KV), costing about
  // `token_layers` tokens through one layer: it may block there too, and runs whole.
  virtual void BeforeWork(int64_t token_layers) { (void)token_layers; }
};

struct ForwardContext {
  explicit ForwardContext(int n_threads, const kernels::KernelTable& k = kernels::BestKernels())
      : owned_pool(std::make_unique<util::ThreadPool>(n_threads)), pool(*owned_pool), kernels(&k) {}
  // A context on another context's pool, for a thread that takes turns with that one's
  // (they never run at once), so no second set of workers spins beside the first.
  ForwardContext(util::ThreadPool& shared_pool, const kernels::KernelTable& k) : pool(shared_pool), kernels(&k) {}

  std::unique_ptr<util::ThreadPool> owned_pool;
  util::ThreadPool& pool;
  const kernels::KernelTable* kernels;

  AttentionRecorder* recorder = nullptr;  // set by the caller for one pass, then cleared
  LayerGate* layer_gate = nullptr;

  // Scratch, sized on use: [n_tokens, width] each.
  std::vector<float> norm, q, k, v, attn, proj, gate, up;
  std::vector<uint8_t> act_scratch;
};

}  // namespace kvfuse::model
