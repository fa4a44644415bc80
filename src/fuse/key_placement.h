// Moves chunk KV between a sequence's cells and a chunk record. A chunk is stored with keys
// for positions 0..n-1 and placed at any offset: RoPE rotates each key by its position, so
// rotating a stored key by the offset gives the key computed there (values carry no
// position and are copied as they are).
#pragma once

#include <cstdint>
#include <vector>

#include "kv/kv_cache.h"
#include "model/forward_context.h"
#include "model/hparams.h"
#include "store/chunk_record.h"

namespace kvfuse::fuse {

// Fills record's K/V (already sized) from the cells slots[0..n), whose keys were rotated
// for positions offset.., as keys for positions 0..n-1.
void CopyOut(const model::HParams& hp, model::ForwardContext& ctx, const kv::KvCache& kv, const int32_t* slots,
             int32_t offset, store::ChunkRecord& record);

// Writes the chunk at positions offset.. of a sequence whose position p lives in slots[p].
void Place(const model::HParams& hp, model::ForwardContext& ctx, const store::ChunkRecord& chunk, kv::KvCache& kv,
           const std::vector<int32_t>& slots, int32_t offset);

}  // namespace kvfuse::fuse
