// Scalar reference kernels (the slow twins every ISA variant is tested against).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvfuse::kernels::ref {

float DotF32(int64_t n, const void* w, const void* x);
float DotF16(int64_t n, const void* w, const void* x);
float DotBF16(int64_t n, const void* w, const void* x);
float DotQ4_0(int64_t n, const void* w, const void* x);
float DotQ5_0(int64_t n, const void* w, const void* x);
float DotQ8_0(int64_t n, const void* w, const void* x);
float DotQ4_K(int64_t n, const void* w, const void* x);
float DotQ5_K(int64_t n, const void* w, const void* x);
float DotQ6_K(int64_t n, const void* w, const void* x);
void QuantizeQ8_0(const float* x, void* y, int64_t n);
void QuantizeQ8_K(const float* x, void* y, int64_t n);

void F32ToF16(const float* x, uint16_t* y, int64_t n);
void ExpF32(int64_t n, const float* x, float* y);
float SoftmaxTile(float* logits, int n, int skip, float scale, float* max, double* sum);
void GatherF16Rows(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* out);
void TransposeKeys(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* kt);
void DotKeys(int64_t dim, const float* const* q, int n_rows, const float* kt, float* logits);
void WeightedSum(int64_t dim, const float* w, int n_rows, const uint16_t* base, size_t stride, const int32_t* slots,
                 int n, float* const* acc);

}  // namespace kvfuse::kernels::ref
