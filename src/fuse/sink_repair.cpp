// sinks (EPIC's LegoLink): a chunk computed alone, behind nothing but the chunk head, lets
// its first tokens act as attention sinks, and placed mid-prompt they draw attention they
// would not get in a full prefill. The first sink_tokens tokens of every chunk are
// recomputed through every layer with the suffix; the rest keep their placed KV.
#include <algorithm>

#include "fuse/fusion_methods.h"

namespace kvfuse::fuse {

std::vector<int32_t> ChunkHeadPositions(const SegmentedPrompt& prompt, int32_t per_chunk, int32_t budget) {
  std::vector<int32_t> positions;
  for (int32_t j = 0; j < per_chunk && static_cast<int32_t>(positions.size()) < budget; ++j) {
    bool any = false;
    for (size_t c = 0; c < prompt.chunks.size() && static_cast<int32_t>(positions.size()) < budget; ++c)
      if (j < static_cast<int32_t>(prompt.chunks[c].size())) {
        positions.push_back(prompt.ChunkOffset(c) + j);
        any = true;
      }
    if (!any) break;  // past the longest chunk
  }
  std::sort(positions.begin(), positions.end());
  return positions;
}

void FinishSinks(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  constexpr int32_t kDefaultSinks = 8;
  const int32_t sinks = in.options.sink_tokens == FusionOptions::kMethodDefault ? kDefaultSinks : in.options.sink_tokens;
  std::vector<int32_t> positions = ChunkHeadPositions(in.prompt, std::max(0, sinks));
  stats.chunk_tokens_recomputed += static_cast<int32_t>(positions.size());
  RecomputeWithSuffix(in.target, in.prompt, std::move(positions), logits, stats);
}

}  // namespace kvfuse::fuse
