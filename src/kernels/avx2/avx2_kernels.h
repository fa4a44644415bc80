// AVX2 + FMA + F16C kernels. Compiled with those flags and called only when
// util::DetectCpuFeatures().avx2 is true. Each matches a scalar twin in ref/.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvfuse::kernels::avx2 {

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

// Tiled products: y[t * y_stride + r] = dot(w row r, x row t) for n_w_rows x n_x_rows.
void GemmQ8_0(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ4_0(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ5_0(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ4_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ5_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ6_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);

float DotF32F16(int64_t n, const float* a, const uint16_t* b);
void F32ToF16(const float* x, uint16_t* y, int64_t n);
void ExpF32(int64_t n, const float* x, float* y);
void GatherF16Rows(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* out);
// Attention tile kernels (attention_avx2.cpp), kernel_table.h's contract.
void TransposeKeys(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* kt);
void DotKeys(int64_t dim, const float* const* q, int n_rows, const float* kt, float* logits);
void WeightedSum(int64_t dim, const float* w, int n_rows, const uint16_t* base, size_t stride, const int32_t* slots,
                 int n, float* const* acc);
float SoftmaxTile(float* logits, int n, int skip, float scale, float* max, double* sum);

}  // namespace kvfuse::kernels::avx2
