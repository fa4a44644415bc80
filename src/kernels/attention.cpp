#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/ops.h"

namespace kvfuse::kernels {

void ReshapeContextLogits(const ContextLogits& context, float* logits, int n) {
  const int begin = std::max(context.begin, 0), end = std::min(context.end, n);
  if (begin >= end) return;
  float max = -std::numeric_limits<float>::infinity();
  for (int j = begin; j < end; ++j) max = std::max(max, logits[j] /= context.temperature);
  double sum = 0;
  for (int j = begin; j < end; ++j) sum += std::exp(static_cast<double>(logits[j] - max));
  const float shift = (context.lse_scale - 1.0f) * static_cast<float>(max + std::log(sum));
  for (int j = begin; j < end; ++j) logits[j] += shift;
}

void AttendOneHead(const KernelTable& k, const float* q, int head_dim, const KvHeadView& kv,
                   const int32_t* slots, int n_slots, float scale, float* scores, float* out,
                   const ContextLogits* context) {
  for (int j = 0; j < n_slots; ++j)
    scores[j] = scale * k.dot_f32_f16(head_dim, q, kv.k_base + slots[j] * kv.slot_stride);
  if (context) ReshapeContextLogits(*context, scores, n_slots);
  Softmax(scores, n_slots);
  std::memset(out, 0, head_dim * sizeof(float));
  for (int j = 0; j < n_slots; ++j)
    k.axpy_f16(head_dim, scores[j], kv.v_base + slots[j] * kv.slot_stride, out);
}

}  // namespace kvfuse::kernels
