// sinks (EPIC's LegoLink): a chunk computed alone, behind nothing but the chunk head, lets
// its first tokens act as attention sinks, and placed mid-prompt they draw attention they
// would not get in a full prefill. The first sink_tokens tokens of every chunk are
// recomputed through every layer with the suffix; the rest keep their placed KV.
#include <algorithm>

#include "fuse/fusion_methods.h"

namespace kvfuse::fuse {

std::vector<int32_t> ChunkHeadPositions(const SegmentedPrompt& prompt, int32_t per_chunk) {
  std::vector<int32_t> positions;
  for (size_t i = 0; i < prompt.chunks.size(); ++i) {
    const int32_t n = std::min<int32_t>(per_chunk, static_cast<int32_t>(prompt.chunks[i].size()));
    for (int32_t j = 0; j < n; ++j) positions.push_back(prompt.ChunkOffset(i) + j);
  }
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
