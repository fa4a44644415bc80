// Scaled dot-product attention of one query head over a list of cached KV slots.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"

namespace kvfuse::kernels {

// Keys and values are f16 rows of head_dim at base + slot * slot_stride (elements).
struct KvHeadView {
  const uint16_t* k_base = nullptr;
  const uint16_t* v_base = nullptr;
  size_t slot_stride = 0;
};

// out[head_dim] = sum_j softmax_j(scale * q·K[slots[j]]) V[slots[j]]
//   q: [head_dim] f32; scores: scratch of n_slots floats; n_slots > 0.
void AttendOneHead(const KernelTable& k, const float* q, int head_dim, const KvHeadView& kv,
                   const int32_t* slots, int n_slots, float scale, float* scores, float* out);

}  // namespace kvfuse::kernels
