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
//   sinks   as naive, then every chunk's first sink_tokens tokens and the suffix
//           recomputed through all layers (EPIC's LegoLink).
//   query   as naive, then the suffix's attention over the placed chunks measured and
//           the most-attended share r of chunk tokens recomputed through all layers.
// Chunk identity, the store and computing missing chunks are ChunkSource's; placing keys
// is key_placement's; each mode is a file of its own (fusion_methods.h). This class checks
// a request, computes the kept-prefix remainder, places the chunks and dispatches.
//
// Threading: one Prefill at a time; the store is not synchronised.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fuse/chunk_source.h"
#include "fuse/fusion_options.h"
#include "fuse/fusion_stats.h"
#include "fuse/segmented_prompt.h"
#include "kv/kv_manager.h"
#include "model/model.h"
#include "store/chunk_store.h"
#include "util/status.h"

namespace kvfuse::fuse {

class ChunkFuser {
 public:
  ChunkFuser(const model::Model& model, store::ChunkStore& store, FuserIdentity identity);

  uint64_t ChunkKey(const std::vector<int32_t>& tokens) const { return source_.Key(tokens); }
  // The chunk's cached KV, computed and stored on a miss.
  util::Result<std::shared_ptr<const store::ChunkRecord>> GetOrCompute(
      model::ForwardContext& ctx, const std::vector<int32_t>& tokens, FusionStats& stats) {
    return source_.GetOrCompute(ctx, tokens, stats);
  }

  // Prefills `prompt` into sequence `seq` of `kv`, whose blocks cover its positions
  // 0..n-1, and returns the logits of its last token. Positions below `kept` (at most
  // KeptPrefix(prompt, mode, ...)) already hold their KV; every other position is written.
  // Chunks missing from the store are computed (and stored) here.
  util::Status Prefill(model::ForwardContext& ctx, kv::KvManager& kv, int32_t seq, int32_t kept,
                       const SegmentedPrompt& prompt, const FusionOptions& options,
                       std::vector<float>& logits, FusionStats& stats);

 private:
  // The slots of the prompt's positions in `seq`, once the request is checked.
  util::Result<std::vector<int32_t>> CheckedSlots(const kv::KvManager& kv, int32_t seq, int32_t kept,
                                                  const SegmentedPrompt& prompt, const FusionOptions& options) const;
  // Places every chunk at its offset from the store (computing those it lacks); their records.
  util::Result<std::vector<std::shared_ptr<const store::ChunkRecord>>> PlaceChunks(
      model::ForwardContext& ctx, kv::KvCache& kv, const std::vector<int32_t>& slots,
      const SegmentedPrompt& prompt, FusionStats& stats);

  const model::Model& model_;
  ChunkSource source_;
};

}  // namespace kvfuse::fuse
