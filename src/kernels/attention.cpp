#include "kernels/attention.h"

#include <cstring>

#include "kernels/ops.h"

namespace kvfuse::kernels {

void AttendOneHead(const KernelTable& k, const float* q, int head_dim, const KvHeadView& kv,
                   const int32_t* slots, int n_slots, float scale, float* scores, float* out) {
  for (int j = 0; j < n_slots; ++j)
    scores[j] = scale * k.dot_f32_f16(head_dim, q, kv.k_base + slots[j] * kv.slot_stride);
  Softmax(scores, n_slots);
  std::memset(out, 0, head_dim * sizeof(float));
  for (int j = 0; j < n_slots; ++j)
    k.axpy_f16(head_dim, scores[j], kv.v_base + slots[j] * kv.slot_stride, out);
}

}  // namespace kvfuse::kernels
