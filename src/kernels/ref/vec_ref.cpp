#include <cmath>

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

void DotRowsF32(int64_t dim, const float* q, const float* rows, int n, float* out) {
  for (int j = 0; j < n; ++j) out[j] = DotF32(dim, rows + j * dim, q);
}

void WeightedSumF32(int64_t dim, const float* w, const float* rows, int n, float* acc) {
  for (int j = 0; j < n; ++j)
    for (int64_t i = 0; i < dim; ++i) acc[i] += w[j] * rows[j * dim + i];
}

}  // namespace kvfuse::kernels::ref
