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

// What placing a chunk costs, in token-layers of computation (model::LayerGate::BeforeWork):
// a token's KV placed in one layer (copied, its keys rotated) takes about 1/100 of computing
// it (4 ms for a 250-token chunk over 30 layers on smol, where a token-layer takes ~60 µs).
inline int64_t PlacementTokenLayers(int64_t n_tokens, int n_layers) { return n_tokens * n_layers / 100; }

// Writes the chunk at positions offset.. of a sequence whose position p lives in slots[p].
void Place(const model::HParams& hp, model::ForwardContext& ctx, const store::ChunkRecord& chunk, kv::KvCache& kv,
           const std::vector<int32_t>& slots, int32_t offset);

}  // namespace kvfuse::fuse
