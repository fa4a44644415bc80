// AVX-512 (F, BW, VL, VNNI) kernels. Only call them when util::DetectCpuFeatures()
// reports all four; the table in dispatch.cpp falls back to AVX2 for everything else.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvfuse::kernels::avx512 {

// Same contract as kernels::DotFn: a 1 x 1 tile of the GEMM below, so that a token's result
// does not depend on whether it runs alone or in a batch.
float DotQ8_0(int64_t n, const void* w, const void* x);
float DotQ4_0(int64_t n, const void* w, const void* x);
float DotQ5_0(int64_t n, const void* w, const void* x);
// Same contract as kernels::GemmFn.
void GemmQ8_0(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ4_0(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ5_0(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);

// The K-quant types against Q8_K activations (gemm_k_avx512.cpp). A dot is a GEMM tile's
// column exactly (the forward pass's results may not depend on the batch).
float DotQ4_K(int64_t n, const void* w, const void* x);
float DotQ5_K(int64_t n, const void* w, const void* x);
float DotQ6_K(int64_t n, const void* w, const void* x);
void GemmQ4_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ5_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ6_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);

}  // namespace kvfuse::kernels::avx512
