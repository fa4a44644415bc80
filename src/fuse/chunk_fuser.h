// Prefill of a SegmentedPrompt that reuses cached chunk KV (chunk-cache fusion).
//
// Every mode runs the one forward path (model::Model over TokenBatches with explicit
// positions and slots):
//   full    all tokens through all layers;
//   prefix  the tokens after the longest common prefix with the previous prompt;
//   naive   prefix reuse, then each chunk's stored KV placed at its offset (keys
//           re-rotated), then the suffix;
//   blend   as naive, then layer 0 for every chunk token, fresh layer-1 K/V compared
//           with the placed ones, and layers >= 1 recomputed for the ratio r of chunk
//           tokens that deviate most (CacheBlend), with causal masking by position.
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

struct FuserIdentity {
  uint64_t model_fingerprint = 0;
  uint64_t tokenizer_fingerprint = 0;
  std::vector<int32_t> chunk_head;  // tokens every chunk is computed after
};

struct FusionStats {
  int32_t prompt_tokens = 0;
  int32_t prefix_reused = 0;        // tokens kept from the previous prompt
  int32_t chunk_tokens = 0;         // tokens placed from chunk caches
  int32_t chunk_tokens_recomputed = 0;  // of those, recomputed in layers >= 1 (blend)
  int32_t tokens_computed = 0;      // tokens run through every layer afresh
  int32_t chunk_hits = 0, chunk_misses = 0;
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

  // Prefills `prompt` into sequence `seq` of `kv` at positions 0..n-1 (slot = position;
  // the cache is this sequence's alone) and returns the logits of its last token.
  util::Status Prefill(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq,
                       const SegmentedPrompt& prompt, const FusionOptions& options,
                       std::vector<float>& logits, FusionStats& stats);

  // The cache no longer holds the tokens of the previous prompt (e.g. after a reset).
  void Forget() { cached_tokens_.clear(); }
  // Tokens written into the sequence at positions start.. by someone else (generation),
  // so that prefix reuse stays exact.
  void Record(int32_t start, const std::vector<int32_t>& tokens) {
    if (static_cast<size_t>(start) > cached_tokens_.size()) return Forget();
    cached_tokens_.resize(start);
    cached_tokens_.insert(cached_tokens_.end(), tokens.begin(), tokens.end());
  }

 private:
  // Runs `tokens` at positions start.. through every layer; logits of the last if wanted.
  void Compute(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq,
               const std::vector<int32_t>& tokens, int32_t start, std::vector<float>* logits) const;
  void Place(model::ForwardContext& ctx, const store::ChunkRecord& chunk, kv::KvCache& kv,
             int32_t seq, int32_t offset) const;
  void Blend(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq, const SegmentedPrompt& prompt,
             const FusionOptions& options, std::vector<float>& logits, FusionStats& stats) const;

  const model::Model& model_;
  store::ChunkStore& store_;
  FuserIdentity identity_;
  std::unique_ptr<kv::KvCache> scratch_;  // where missing chunks are computed
  std::vector<int32_t> cached_tokens_;    // what seq holds at positions 0..
};

}  // namespace kvfuse::fuse
