// What one fused prefill reused, recomputed and spent; filled by the fuser and the
// scheduler's warming, read by every caller that reports figures.
#pragma once

#include <cstdint>
#include <vector>

namespace kvfuse::fuse {

struct FusionStats {
  int32_t prompt_tokens = 0;
  int32_t prefix_reused = 0;        // tokens kept from the previous prompt
  int32_t chunk_tokens = 0;         // tokens placed from chunk caches
  int32_t chunk_tokens_recomputed = 0;  // of those, recomputed (blend: layers >= 1)
  int32_t tokens_computed = 0;      // tokens run through every layer afresh
  float recompute_ratio = -1;       // the share the mode recomputed by (-1: a mode without one)
  // The fused prefill was unsure of its first token and redone in full (fallback_below);
  // its chunk tokens then count as recomputed on top of what the method recomputed.
  bool fell_back = false;
  int32_t chunk_hits = 0, chunk_misses = 0;
  // Per chunk of the prompt, in order, for the modes that place chunk KV: found in the store
  // (true) or computed (false). Empty for full and prefix prefills.
  std::vector<bool> chunk_from_cache;
  int32_t chunk_tokens_hit = 0;     // tokens of the chunks found in the store
  double ms_chunk_compute = 0;      // computing missing chunks
  double ms_place = 0;              // fetching and placing chunk KV
  double ms_forward = 0;            // everything else
};

}  // namespace kvfuse::fuse
