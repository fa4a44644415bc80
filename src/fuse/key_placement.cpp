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
        auto* k_row = reinterpret_cast<uint16_t*>(record.k_row(l, j));
        auto* v_row = reinterpret_cast<uint16_t*>(record.v_row(l, j));
        for (int h = 0; h < hp.n_kv_heads; ++h) {
          kernels::ShiftKeysF16(*ctx.kernels, kv.k(l, h, slots[j]), k_row + h * hp.head_dim, 1, back, rope);
          std::memcpy(v_row + h * hp.head_dim, kv.v(l, h, slots[j]), hp.head_dim * sizeof(uint16_t));
        }
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
        const auto* k_row = reinterpret_cast<const uint16_t*>(chunk.k_row(l, j));
        const auto* v_row = reinterpret_cast<const uint16_t*>(chunk.v_row(l, j));
        for (int h = 0; h < hp.n_kv_heads; ++h) {
          kernels::ShiftKeysF16(*ctx.kernels, k_row + h * hp.head_dim, kv.k(l, h, slot), 1, forward, rope);
          std::memcpy(kv.v(l, h, slot), v_row + h * hp.head_dim, hp.head_dim * sizeof(uint16_t));
        }
      }
    }
  });
}

}  // namespace kvfuse::fuse
