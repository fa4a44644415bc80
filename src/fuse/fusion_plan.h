// The chunk KV of one fused prefill, fetched ahead of it with one chunk-store lookup per
// chunk: the scheduler warms a RAG prompt's chunks one unit each into a plan (found, or
// computed and stored on a miss), then the prefill places them from the plan without
// looking anything up again. Owned by the request that warms it; one thread at a time.
#pragma once

#include <memory>
#include <vector>

#include "fuse/fusion_stats.h"
#include "store/chunk_record.h"

namespace kvfuse::fuse {

struct FusionPlan {
  // The records of the prompt's first chunks.size() chunks, in prompt order.
  std::vector<std::shared_ptr<const store::ChunkRecord>> chunks;
  // What warming them found and cost: chunk_hits, chunk_misses, chunk_tokens_hit and
  // ms_chunk_compute. The prefill does not count these chunks again.
  FusionStats stats;
};

// Adds a plan's warming statistics to a prefill's.
inline void AddWarming(FusionStats& stats, const FusionStats& warming) {
  stats.chunk_hits += warming.chunk_hits;
  stats.chunk_misses += warming.chunk_misses;
  stats.chunk_tokens_hit += warming.chunk_tokens_hit;
  stats.ms_chunk_compute += warming.ms_chunk_compute;
}

}  // namespace kvfuse::fuse
