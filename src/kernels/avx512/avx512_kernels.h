// AVX-512 (F, BW, VL, VNNI) kernels. Only call them when util::DetectCpuFeatures()
// reports all four; the table in dispatch.cpp falls back to AVX2 for everything else.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvfuse::kernels::avx512 {

// Same contract as kernels::DotFn: a 1 x 1 tile of the GEMM below, so that a token's result
// does not depend on whether it runs alone or in a batch (Q8_0: the packed product's).
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

// Q8_0 weights packed 16 rows at a time (packed_q8_avx512.cpp; kernels::PackedKernels). The
// avx512 table's Q8_0 dot and GEMM compute what the packed product does, bit for bit.
size_t PackedBytesQ8_0(int64_t n_cols, int64_t n_rows);
void PackQ8_0(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out);
void PackedGemmQ8_0(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);

// F16 weights (f32 activations) packed 16 rows at a time (packed_f16_avx512.cpp); the dot
// computes what the packed product does. Rows whose length is not a multiple of 4 are not
// packed (PackedBytesF16 is 0).
float DotF16(int64_t n, const void* w, const void* x);
size_t PackedBytesF16(int64_t n_cols, int64_t n_rows);
void PackF16(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out);
void PackedGemmF16(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                   size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);

// The K-quant types against Q8_K activations. Q4_K and Q6_K are packed 16 rows at a time
// (packed_k_avx512.cpp) and their dot and GEMM compute what the packed product does; Q5_K's
// dot is a column of its GEMM (gemm_k_avx512.cpp). Either way a token's result does not
// depend on its batch.
float DotQ4_K(int64_t n, const void* w, const void* x);
float DotQ5_K(int64_t n, const void* w, const void* x);
float DotQ6_K(int64_t n, const void* w, const void* x);
void GemmQ4_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ5_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void GemmQ6_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
size_t PackedBytesQ4_K(int64_t n_cols, int64_t n_rows);
size_t PackedBytesQ6_K(int64_t n_cols, int64_t n_rows);
void PackQ4_K(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out);
void PackQ6_K(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out);
void PackedGemmQ4_K(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
void PackedGemmQ6_K(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);

}  // namespace kvfuse::kernels::avx512
