// Pieces every packed product of the avx512 table uses (packed_*_avx512.cpp,
// packed_q32_amx.cpp). Include only from files compiled with the AVX-512 flags; internal to
// each file that includes it (anonymous namespace), like the AVX2 helper headers.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/kernel_table.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx512 {
namespace {

constexpr int kGroup = static_cast<int>(kPackedRowGroup);

// 4 activation bytes in every lane: vpdpbusd's other operand against a slice of 16 rows.
inline __m512i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Asks for the cache lines of the `bytes` that lie kPrefetchAhead past p. One activation row
// (decode) reads a packed matrix once, faster than the hardware prefetcher brings it in:
// prefetching ~9 KB ahead took qwen05 Q8_0 decode from 39 to 44 t/s on 2 cores (4.6 to 18 KB
// measured within noise of each other).
constexpr size_t kPrefetchAhead = 9216;
inline void PrefetchAhead(const void* p, size_t bytes, size_t ahead = kPrefetchAhead) {
  // An address past the end of the matrix is never read: prefetches do not fault. (The same
  // address computed as an integer made GCC 12's K-quant decode loop 15% slower.)
  const char* at = static_cast<const char*>(p) + ahead;
  for (size_t line = 0; line < bytes; line += 64) _mm_prefetch(at + line, _MM_HINT_T0);
}

// 16 f16 values (32-byte aligned) as floats (maskz: see ToFloat).
inline __m512 HalvesToFloat(const uint16_t* p) {
  return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
}

// int32 to float (maskz: the unmasked conversion trips a false uninitialised warning of GCC 12).
inline __m512 ToFloat(__m512i v) { return _mm512_maskz_cvtepi32_ps(0xFFFF, v); }

// Lanes 0..n_rows-1 (rows of a packed group) of each of n_cols accumulators into y.
inline void StoreRows(const __m512* acc, int n_cols, float* y, size_t y_stride, int n_rows) {
  const __mmask16 keep = static_cast<__mmask16>((1u << n_rows) - 1);
  for (int c = 0; c < n_cols; ++c) _mm512_mask_storeu_ps(y + c * y_stride, keep, acc[c]);
}

// A GemmFn over unpacked rows (weights that were not packed for this table): one dot per
// pair, so it equals the packed product exactly as the dot does.
template <float (*kDot)(int64_t, const void*, const void*)>
void GemmByDots(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
                size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  for (int64_t c = 0; c < n_x_rows; ++c)
    for (int64_t r = 0; r < n_w_rows; ++r) y[c * y_stride + r] = kDot(n, w + r * w_row_bytes, x + c * x_row_bytes);
}

// The products of a K-quant type packed in blocks of kBlockBytes per group and 256-element
// block: rows [row_begin, row_end) against every activation row, 4 at a time (kTile4), then
// one at a time (kTile1).
template <size_t kBlockBytes, void (*kTile4)(int64_t, const uint8_t*, const uint8_t*, size_t, float*, size_t, int),
          void (*kTile1)(int64_t, const uint8_t*, const uint8_t*, size_t, float*, size_t, int)>
void PackedKQuantGemm(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                      size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  const int64_t nb = n / tensor::kQK_K;
  for (int64_t r = row_begin; r < row_end; r += kGroup) {
    const uint8_t* group = packed + (r / kGroup) * nb * kBlockBytes;
    const int rows = static_cast<int>(std::min<int64_t>(kGroup, row_end - r));
    int64_t c = 0;
    for (; c + 4 <= n_x_rows; c += 4) kTile4(nb, group, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride, rows);
    for (; c < n_x_rows; ++c) kTile1(nb, group, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride, rows);
  }
}

}  // namespace
}  // namespace kvfuse::kernels::avx512
