// AVX-512 (F, BW, VL, VNNI) kernels. Only call them when util::DetectCpuFeatures()
// reports all four; the table in dispatch.cpp falls back to AVX2 for everything else.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvfuse::kernels::avx512 {

// The 32-element block types packed 16 rows at a time (packed_q32_avx512.cpp;
// kernels::PackedKernels); the dots and unpacked GEMMs compute what the packed products do,
// bit for bit.
#define KVFUSE_DECLARE_PACKED_Q32(T)                                                                                \
  size_t PackedBytes##T(int64_t n_cols, int64_t n_rows);                                                            \
  void Pack##T(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out);                \
  void PackedGemm##T(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,         \
                     size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);                              \
  float Dot##T(int64_t n, const void* w, const void* x);                                                            \
  void Gemm##T(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,                 \
               size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);
KVFUSE_DECLARE_PACKED_Q32(Q8_0)
KVFUSE_DECLARE_PACKED_Q32(Q5_0)
KVFUSE_DECLARE_PACKED_Q32(Q4_0)
#undef KVFUSE_DECLARE_PACKED_Q32

// F16 weights (f32 activations) packed 16 rows at a time (packed_f16_avx512.cpp); the dot
// computes what the packed product does. Rows whose length is not a multiple of 4 are not
// packed (PackedBytesF16 is 0).
float DotF16(int64_t n, const void* w, const void* x);
size_t PackedBytesF16(int64_t n_cols, int64_t n_rows);
void PackF16(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out);
void PackedGemmF16(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                   size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride);

// Attention tile kernels (attention_avx512.cpp), kernel_table.h's contract.
void TransposeKeys(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* kt);
void DotKeys(int64_t dim, const float* const* q, int n_rows, const float* kt, float* logits);
void WeightedSum(int64_t dim, const float* w, int n_rows, const uint16_t* base, size_t stride, const int32_t* slots,
                 int n, float* const* acc);
float SoftmaxTile(float* logits, int n, int skip, float scale, float* max, double* sum);

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
