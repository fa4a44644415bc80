// Prefill of a SegmentedPrompt that reuses cached chunk KV (chunk-cache fusion).
//
// Every mode runs the one forward path (model::Model over TokenBatches with explicit
// positions and slots):
//   full    all tokens through all layers;
//   prefix  the tokens after the cached prefix (found by the caller's prefix tree);
//   naive   the prefix segment (from the cache where possible), then each chunk's
//           stored KV placed at its offset (keys re-rotated), then the suffix;
//   blend   as naive, then layer 0 for every chunk token, fresh layer-1 K/V compared
//           with the placed ones, and layers >= 1 recomputed for the ratio r of chunk
//           tokens that deviate most (CacheBlend), with causal masking by position.
//   adaptive  as naive, then per chunk the share min(1, alpha * CCI * (1 - beta'))
//           of its tokens (those that attended most to other chunks when it was
//           cached) is recomputed through all layers (Cache-Craft); CCI and beta'
//           come from the chunk's recorded context (see FusionOptions::record_chunks).
// A chunk missing from the store is computed on its own behind `chunk_head` (e.g. BOS,
// so its first token is not an attention sink), stored with keys for positions 0..n-1,
// and then placed like a hit.
//
// Threading: one Prefill at a time; the store is not synchronised.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fuse/fusion_options.h"
#include "fuse/segmented_prompt.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "store/chunk_store.h"
#include "util/status.h"

namespace kvfuse::fuse {

struct FusionPlan;

struct FuserIdentity {
  uint64_t model_fingerprint = 0;
  uint64_t tokenizer_fingerprint = 0;
  std::vector<int32_t> chunk_head;  // tokens every chunk is computed after
};

struct FusionStats {
  int32_t prompt_tokens = 0;
  int32_t prefix_reused = 0;        // tokens kept from the previous prompt
  int32_t chunk_tokens = 0;         // tokens placed from chunk caches
  int32_t chunk_tokens_recomputed = 0;  // of those, recomputed (blend: layers >= 1)
  int32_t tokens_computed = 0;      // tokens run through every layer afresh
  int32_t chunk_hits = 0, chunk_misses = 0;
  int32_t chunk_tokens_hit = 0;     // tokens of the chunks found in the store
  double ms_chunk_compute = 0;      // computing missing chunks
  double ms_place = 0;              // fetching and placing chunk KV
  double ms_forward = 0;            // everything else
};

class ChunkFuser {
 public:
  ChunkFuser(const model::Model& model, store::ChunkStore& store, FuserIdentity identity);

  // hash(model fingerprint, tokenizer fingerprint, chunk head, chunk token ids)
  uint64_t ChunkKey(const std::vector<int32_t>& tokens) const;
  store::ChunkShape chunk_shape() const;

  // The chunk's cached KV, computed and stored on a miss.
  util::Result<std::shared_ptr<const store::ChunkRecord>> GetOrCompute(
      model::ForwardContext& ctx, const std::vector<int32_t>& tokens, FusionStats& stats);

  // Of the first `cached` prompt positions whose exact KV the caller has (a prefix-cache
  // hit), how many `mode` keeps: none for full, all for prefix, at most the prefix
  // segment for naive and blend; never the last token, whose logits are needed.
  static int32_t KeptPrefix(const SegmentedPrompt& prompt, FusionMode mode, int32_t cached);

  // Prefills `prompt` into sequence `seq` of `kv` at positions 0..n-1, position p in
  // slots[p], and returns the logits of its last token. Positions below `kept` already
  // hold their KV and belong to seq; every other slot is written. Chunks whose records
  // `plan` holds are placed from it, uncounted in stats (the plan counted them); the rest
  // are looked up (or computed) here.
  util::Status Prefill(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq,
                       const std::vector<int32_t>& slots, int32_t kept,
                       const SegmentedPrompt& prompt, const FusionOptions& options,
                       std::vector<float>& logits, FusionStats& stats, const FusionPlan* plan = nullptr);

 private:
  // Runs `tokens` at positions start.. (slots from `slots`, indexed by position) through
  // every layer; logits of the last if wanted.
  void Compute(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq, const std::vector<int32_t>& slots,
               const std::vector<int32_t>& tokens, int32_t start, std::vector<float>* logits) const;
  // Fills record's K/V (already sized) from the cells slots[0..n), whose keys were rotated
  // for positions offset.., as keys for positions 0..n-1.
  void CopyOut(model::ForwardContext& ctx, const kv::KvCache& kv, const int32_t* slots, int32_t offset,
               store::ChunkRecord& record) const;
  void Place(model::ForwardContext& ctx, const store::ChunkRecord& chunk, kv::KvCache& kv,
             int32_t seq, const std::vector<int32_t>& slots, int32_t offset) const;
  void Adaptive(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq, const std::vector<int32_t>& slots,
                const SegmentedPrompt& prompt, const std::vector<std::shared_ptr<const store::ChunkRecord>>& chunks,
                float alpha, std::vector<float>& logits, FusionStats& stats) const;
  // Stores each chunk of a fully computed prompt with its attention statistics.
  void RecordChunks(model::ForwardContext& ctx, const kv::KvCache& kv, const std::vector<int32_t>& slots,
                    const SegmentedPrompt& prompt, const model::AttentionRecorder& recorder);
  // Runs a batch through layers [first_layer, n_layers) from its hidden states there and
  // returns the logits of its last row.
  void RunSubset(model::ForwardContext& ctx, kv::KvCache& kv, const model::TokenBatch& batch,
                 std::vector<float>& hidden, int first_layer, std::vector<float>& logits) const;
  void Blend(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq, const std::vector<int32_t>& slots,
             const SegmentedPrompt& prompt, const FusionOptions& options, std::vector<float>& logits,
             FusionStats& stats) const;

  const model::Model& model_;
  store::ChunkStore& store_;
  FuserIdentity identity_;
  std::unique_ptr<kv::KvCache> scratch_;  // where missing chunks are computed
};

}  // namespace kvfuse::fuse
