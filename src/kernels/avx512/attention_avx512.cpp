// Attention helpers of the avx512 table. A key's dot product: lane l sums q_i k_i over i = l,
// l + 16, ... in order of i (a chain of FMAs, 16 keys at a time, each in its own register),
// then the 16 lanes are added as a tree, l with l + 8, then l + 4, l + 2 and l + 1, for 16
// keys at once (AddKeyTree). Values are weighted 16 dimensions per FMA. Keys and values are
// read from their f16 rows as they are (DotKeysF16, WeightedSumF16) or from rows converted
// before (DotKeysF32, WeightedSumF32), with the same sums: f16 converts exactly. The result
// for a row depends only on that row (the helpers are called row by row).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/kernel_table.h"

namespace kvfuse::kernels::avx512 {

namespace {

// a's and b's lanes picked by `lo` and by `hi` (0-15 from a, 16-31 from b): their sum.
__m512 AddPicked(__m512 a, __m512 b, const int (&lo)[16], const int (&hi)[16]) {
  const __m512i lo_index = _mm512_loadu_si512(lo), hi_index = _mm512_loadu_si512(hi);
  return _mm512_add_ps(_mm512_permutex2var_ps(a, lo_index, b), _mm512_permutex2var_ps(a, hi_index, b));
}

// The tree over 16 vectors that are keys (vector j, lane l: key j's partial sum l): lane j of
// the result is key j's sum. Each step adds two or more keys' partial sums in one vector.
__m512 AddKeyTree(__m512 (&key)[16]) {
  // key j and key j + 8: lanes 0-7 key j's l + (l + 8), lanes 8-15 key j + 8's.
  static constexpr int kLo1[16] = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
  static constexpr int kHi1[16] = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
  for (int j = 0; j < 8; ++j) key[j] = AddPicked(key[j], key[j + 8], kLo1, kHi1);
  // Four lanes each of keys j, j + 4, j + 8, j + 12: l + (l + 4).
  static constexpr int kLo2[16] = {0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27};
  static constexpr int kHi2[16] = {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31};
  for (int j = 0; j < 4; ++j) key[j] = AddPicked(key[j], key[j + 4], kLo2, kHi2);
  // Two lanes each of keys j, j + 2, ..., j + 14: l + (l + 2).
  static constexpr int kLo3[16] = {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29};
  static constexpr int kHi3[16] = {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31};
  for (int j = 0; j < 2; ++j) key[j] = AddPicked(key[j], key[j + 2], kLo3, kHi3);
  // Lane j: key j's l + (l + 1).
  static constexpr int kLo4[16] = {0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30};
  static constexpr int kHi4[16] = {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31};
  return AddPicked(key[0], key[1], kLo4, kHi4);
}

__mmask16 FirstLanes(int64_t n) { return n >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << n) - 1); }

// Rows of f32 (rows + j * dim) or of f16 (base + slots[j] * stride): the same values, as f16
// converts exactly, so a product over either gives the same bits.
struct F32Rows {
  const float* rows;
  int64_t dim;
  const float* Row(int j) const { return rows + j * dim; }
  static __m512 Load(const float* row, __mmask16 m) { return _mm512_maskz_loadu_ps(m, row); }
  static float At(const float* row, int64_t i) { return row[i]; }
};
struct F16Rows {
  const uint16_t* base;
  size_t stride;
  const int32_t* slots;
  const uint16_t* Row(int j) const { return base + slots[j] * stride; }
  static __m512 Load(const uint16_t* row, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row)); }
  static float At(const uint16_t* row, int64_t i) { return avx2::HalfToFloat(row[i]); }
};

template <class Rows>
void DotKeyRowsOf(int64_t dim, const float* q, const Rows& rows, int n, float* out) {
  for (int g = 0; 16 * g < n; ++g) {
    // Lanes past n repeat the last key (never stored), so every lane is written with
    // constant indices and the 16 sums stay in registers.
    const int last = std::min(16, n - 16 * g) - 1;
    decltype(rows.Row(0)) row[16];
    for (int j = 0; j < 16; ++j) row[j] = rows.Row(16 * g + std::min(j, last));
    __m512 key[16];
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) key[j] = _mm512_setzero_ps();
    for (int64_t c = 0; c < dim; c += 16) {  // lanes past dim keep their sums
      const __mmask16 m = FirstLanes(dim - c);
      const __m512 qc = _mm512_maskz_loadu_ps(m, q + c);
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) key[j] = _mm512_mask3_fmadd_ps(qc, Rows::Load(row[j] + c, m), key[j], m);
    }
    _mm512_mask_storeu_ps(out + 16 * g, FirstLanes(n - 16 * g), AddKeyTree(key));
  }
}

// acc += sum_j w[j] * row_j: even keys summed onto acc, odd keys apart, then added; widths
// not a multiple of 16, or over 256, row by row.
template <class Rows>
void WeightedSumOf(int64_t dim, const float* w, const Rows& rows, int n, float* acc) {
  if (dim % 16 != 0 || dim > 256) {
    for (int j = 0; j < n; ++j) {
      const auto* row = rows.Row(j);
      for (int64_t i = 0; i < dim; ++i) acc[i] = std::fma(w[j], Rows::At(row, i), acc[i]);
    }
    return;
  }
  const int vectors = static_cast<int>(dim / 16);
  __m512 even[16], odd[16];
  for (int v = 0; v < vectors; ++v) even[v] = _mm512_loadu_ps(acc + 16 * v), odd[v] = _mm512_setzero_ps();
  int j = 0;
  for (; j + 2 <= n; j += 2) {
    const __m512 w0 = _mm512_set1_ps(w[j]), w1 = _mm512_set1_ps(w[j + 1]);
    const auto* r0 = rows.Row(j);
    const auto* r1 = rows.Row(j + 1);
    for (int v = 0; v < vectors; ++v) {
      even[v] = _mm512_fmadd_ps(w0, Rows::Load(r0 + 16 * v, 0xFFFF), even[v]);
      odd[v] = _mm512_fmadd_ps(w1, Rows::Load(r1 + 16 * v, 0xFFFF), odd[v]);
    }
  }
  if (j < n) {
    const __m512 w0 = _mm512_set1_ps(w[j]);
    const auto* r0 = rows.Row(j);
    for (int v = 0; v < vectors; ++v) even[v] = _mm512_fmadd_ps(w0, Rows::Load(r0 + 16 * v, 0xFFFF), even[v]);
  }
  for (int v = 0; v < vectors; ++v) _mm512_storeu_ps(acc + 16 * v, _mm512_add_ps(even[v], odd[v]));
}

}  // namespace

void DotKeysF32(int64_t dim, const float* q, const float* rows, int n, float* out) {
  DotKeyRowsOf(dim, q, F32Rows{rows, dim}, n, out);
}

void DotKeysF16(int64_t dim, const float* q, const uint16_t* base, size_t stride, const int32_t* slots, int n,
                float* out) {
  DotKeyRowsOf(dim, q, F16Rows{base, stride, slots}, n, out);
}

void WeightedSumF32(int64_t dim, const float* w, const float* rows, int n, float* acc) {
  WeightedSumOf(dim, w, F32Rows{rows, dim}, n, acc);
}

void WeightedSumF16(int64_t dim, const float* w, const uint16_t* base, size_t stride, const int32_t* slots, int n,
                    float* acc) {
  WeightedSumOf(dim, w, F16Rows{base, stride, slots}, n, acc);
}

}  // namespace kvfuse::kernels::avx512
