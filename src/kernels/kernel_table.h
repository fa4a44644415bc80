// The kernel variants of one instruction set, and run-time selection among them.
//
// Every entry has a scalar reference (ref/) and ISA variants (avx2/) that must agree
// with it; tests/kernels compare them over many shapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tensor/dtype.h"

namespace kvfuse::kernels {

// Dot product of one weight row (n elements of its type) with one activation row
// already converted to VecDotType(weight type).
using DotFn = float (*)(int64_t n, const void* w, const void* x);
// A tile of dot products: y[t * y_stride + r] = dot(w row r, x row t) for
// r < n_w_rows, t < n_x_rows (rows of n elements, x in VecDotType format).
using GemmFn = void (*)(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows,
                        const uint8_t* x, size_t x_row_bytes, int64_t n_x_rows, float* y,
                        size_t y_stride);
// Converts n floats to an activation row of Q8_0 or Q8_K.
using QuantizeFn = void (*)(const float* x, void* y, int64_t n);

// The most keys attention takes at once (kernels/attention's tile).
inline constexpr int kKeyTile = 64;

// Weights repacked, once at load, into a layout a table's products read faster. Rows are
// packed in groups of kPackedRowGroup (the last one padded).
inline constexpr int64_t kPackedRowGroup = 16;
struct PackedKernels {
  // Bytes of n_rows packed rows of n_cols elements; 0: rows of that length are not packed.
  size_t (*bytes)(int64_t n_cols, int64_t n_rows) = nullptr;
  // Packs n_rows rows (row_bytes apart) into `out` (bytes() of them, 64-byte aligned).
  void (*pack)(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out) = nullptr;
  // y[t * y_stride + r] for r in [row_begin, row_end) (row_begin a multiple of
  // kPackedRowGroup), t < n_x_rows: the table's dot of unpacked row r and x row t, bit for bit.
  void (*gemm)(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
               size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) = nullptr;
};

struct KernelTable {
  const char* name;
  DotFn dot_f32, dot_f16, dot_bf16;
  DotFn dot_q4_0, dot_q5_0, dot_q8_0;
  DotFn dot_q4_k, dot_q5_k, dot_q6_k;
  QuantizeFn quantize_q8_0;
  QuantizeFn quantize_q8_k;
  // Optional tiled kernels (nullptr: MatMul loops over DotFor).
  GemmFn gemm_q4_0, gemm_q5_0, gemm_q8_0;
  GemmFn gemm_q4_k, gemm_q5_k, gemm_q6_k;

  // Float vector helpers used by attention and the blocks.
  void (*f32_to_f16)(const float* x, uint16_t* y, int64_t n);
  // y[i] = e^x[i] (within 2 ulp of std::exp for x in [-87, 88]; below: about 0).
  void (*exp_f32)(int64_t n, const float* x, float* y);
  // Attention over a tile of at most kKeyTile keys and values, each the f16 row base +
  // slots[j] * stride (j < n) of `dim` elements, for a block of query rows r < n_rows:
  //   transpose_keys: kt[i * kKeyTile + j] = key_j[i] as f32 (0 for j >= n);
  //   dot_keys: logits[r * kKeyTile + j] = q_r·key_j for every j < kKeyTile, read from kt;
  //   weighted_sum: acc_r += sum_{j<n} w[r * kKeyTile + j] * value_j.
  // Each sum is one chain of FMAs in order (of i for a dot, of j for a weighted sum), so a
  // row's result does not depend on the rows beside it, and every table gives the same bits.
  // Logits of keys past n are those of zero keys: 0.
  void (*transpose_keys)(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* kt);
  void (*dot_keys)(int64_t dim, const float* const* q, int n_rows, const float* kt, float* logits);
  void (*weighted_sum)(int64_t dim, const float* w, int n_rows, const uint16_t* base, size_t stride,
                       const int32_t* slots, int n, float* const* acc);
  // One key tile of a row's online softmax, for 0 <= skip < n <= kKeyTile (logits past n are
  // not touched): logits[0, n) are multiplied by `scale`, and the largest of [skip, n) joins
  // *max. When that raises *max, *sum is multiplied by exp(old - new *max), which is returned
  // for the caller to scale what it summed before (else 1 is returned). Then logits[j] =
  // exp(logits[j] - *max) for j in [skip, n), 0 for j < skip (whatever they held), and *sum
  // grows by their sum. NaN logits are left out of the maximum. Tables differ in their exp and
  // in the order of that sum.
  float (*softmax_tile)(float* logits, int n, int skip, float scale, float* max, double* sum);
  // Converts the f16 rows base + slots[j] * stride (j < n) of `dim` elements into
  // out[j * dim ...] (ShiftKeysF16 reads a cached key row through it).
  void (*gather_f16_rows)(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* out);

  // Optional packed products (none: the entries above read the rows as they are).
  PackedKernels packed_f16 = {}, packed_q4_0 = {}, packed_q5_0 = {}, packed_q8_0 = {};
  PackedKernels packed_q4_k = {}, packed_q6_k = {};

  DotFn DotFor(tensor::DType weight_type) const;
  GemmFn GemmFor(tensor::DType weight_type) const;
  // Empty (all nullptr) where this table packs no weights of that type.
  PackedKernels PackedFor(tensor::DType weight_type) const;
};

const KernelTable& RefKernels();
// nullptr where the CPU (or the build) lacks AVX2+FMA+F16C.
const KernelTable* Avx2Kernels();
// The AVX2 table with the kernels that have an AVX-512 (F/BW/VL/VNNI) version replaced;
// nullptr where the CPU lacks any of those.
const KernelTable* Avx512Kernels();
// The fastest table this CPU supports.
const KernelTable& BestKernels();
// The table named "avx512", "avx2" or "ref"; nullptr when there is no such table or this
// CPU lacks it (benchmarks compare tables by name).
const KernelTable* KernelsNamed(std::string_view name);

}  // namespace kvfuse::kernels
