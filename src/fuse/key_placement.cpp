#include "fuse/key_placement.h"

#include <cstring>

#include "kernels/ops.h"

namespace kvfuse::fuse {

void CopyOut(const model::HParams& hp, model::ForwardContext& ctx, const kv::KvCache& kv, const int32_t* slots,
             int32_t offset, store::ChunkRecord& record) {
  ctx.pool.ParallelFor(record.shape.n_layers, [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      const kernels::RopeParams rope = model::RopeOf(hp, static_cast<int>(l));
      const kernels::RopeAngles back = kernels::RopeAnglesAt(static_cast<float>(-offset), rope);
      for (uint32_t j = 0; j < record.n_tokens(); ++j) {
        kernels::ShiftKeysF16(*ctx.kernels, kv.k(l, slots[j]), reinterpret_cast<uint16_t*>(record.k_row(l, j)),
                              hp.n_kv_heads, back, rope);
        std::memcpy(record.v_row(l, j), kv.v(l, slots[j]), record.shape.row_bytes);
      }
    }
  });
}

void Place(const model::HParams& hp, model::ForwardContext& ctx, const store::ChunkRecord& chunk, kv::KvCache& kv,
           const std::vector<int32_t>& slots, int32_t offset) {
  ctx.pool.ParallelFor(chunk.shape.n_layers, [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      const kernels::RopeParams rope = model::RopeOf(hp, static_cast<int>(l));
      const kernels::RopeAngles forward = kernels::RopeAnglesAt(static_cast<float>(offset), rope);
      for (uint32_t j = 0; j < chunk.n_tokens(); ++j) {
        const int32_t slot = slots[offset + j];
        kernels::ShiftKeysF16(*ctx.kernels, reinterpret_cast<const uint16_t*>(chunk.k_row(l, j)), kv.k(l, slot),
                              hp.n_kv_heads, forward, rope);
        std::memcpy(kv.v(l, slot), chunk.v_row(l, j), chunk.shape.row_bytes);
      }
    }
  });
}

}  // namespace kvfuse::fuse
