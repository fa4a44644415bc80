#include <cmath>
#include <limits>

#include "kernels/kernel_table.h"
#include "kernels/quantize.h"
#include "kernels/ref/ref_kernels.h"
#include "tensor/half.h"

namespace kvfuse::kernels::ref {

void QuantizeQ8_0(const float* x, void* y, int64_t n) { QuantizeRow(tensor::DType::kQ8_0, x, y, n); }
void QuantizeQ8_K(const float* x, void* y, int64_t n) { QuantizeRow(tensor::DType::kQ8_K, x, y, n); }

void F32ToF16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = tensor::Fp32ToFp16(x[i]);
}

void ExpF32(int64_t n, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

void GatherF16Rows(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* out) {
  for (int j = 0; j < n; ++j)
    for (int64_t i = 0; i < dim; ++i) out[j * dim + i] = tensor::Fp16ToFp32(base[slots[j] * stride + i]);
}

void TransposeKeys(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* kt) {
  for (int64_t i = 0; i < dim; ++i)
    for (int j = 0; j < kKeyTile; ++j)
      kt[i * kKeyTile + j] = j < n ? tensor::Fp16ToFp32(base[slots[j] * stride + i]) : 0.0f;
}

void DotKeys(int64_t dim, const float* const* q, int n_rows, const float* kt, float* logits) {
  for (int r = 0; r < n_rows; ++r)
    for (int j = 0; j < kKeyTile; ++j) {
      float sum = 0;
      for (int64_t i = 0; i < dim; ++i) sum = std::fma(q[r][i], kt[i * kKeyTile + j], sum);
      logits[r * kKeyTile + j] = sum;
    }
}

void WeightedSum(int64_t dim, const float* w, int n_rows, const uint16_t* base, size_t stride, const int32_t* slots,
                 int n, float* const* acc) {
  for (int r = 0; r < n_rows; ++r)
    for (int j = 0; j < n; ++j)
      for (int64_t i = 0; i < dim; ++i)
        acc[r][i] = std::fma(w[r * kKeyTile + j], tensor::Fp16ToFp32(base[slots[j] * stride + i]), acc[r][i]);
}

float SoftmaxTile(float* logits, int n, int skip, float scale, float* max, double* sum) {
  float tile_max = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < n; ++j) {
    logits[j] *= scale;
    if (j >= skip && tile_max < logits[j]) tile_max = logits[j];
  }
  float shrink = 1.0f;
  if (tile_max > *max) {
    shrink = std::exp(*max - tile_max);
    *sum *= shrink;
    *max = tile_max;
  }
  for (int j = 0; j < n; ++j) {
    logits[j] = j < skip ? 0.0f : std::exp(logits[j] - *max);
    *sum += logits[j];
  }
  return shrink;
}

}  // namespace kvfuse::kernels::ref
