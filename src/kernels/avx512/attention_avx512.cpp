// Attention tile kernels of the avx512 table (kernel_table.h's transpose_keys, dot_keys,
// weighted_sum and softmax_tile). A lane of a vector is one key (dot_keys: the tile's 64 keys
// are 4 vectors) or one dimension (weighted_sum), and each lane's sum is one chain of FMAs in
// the contract's order. Up to 6 rows are blocked together, so that each load of keys or values (and each
// f16 conversion) serves them all; that changes no bit, as no lane mixes rows.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/kernel_table.h"

namespace kvfuse::kernels::avx512 {

namespace {

constexpr int kKeyVectors = kKeyTile / 16;
// Rows blocked together: 6 rows x 4 vectors of sums, plus 4 vectors of keys or values, fit
// the 32 registers.
constexpr int kRowBlock = 6;

__mmask16 FirstLanes(int64_t n) { return n >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << n) - 1); }

// Lane j of vector i becomes lane i of vector j.
void Transpose16(__m512 (&r)[16]) {
  __m512 t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 2) {  // rows a, b: a0 b0 a1 b1, a4 b4 a5 b5, ... and a2 b2 a3 b3, ...
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 4) {  // in each 128-bit lane, one column of four rows
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 8)  // 128-bit lanes of rows 0-3 and 4-7 interleaved
#pragma GCC unroll 16
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + 4 + j], 0x88);
      t[i + 4 + j] = _mm512_shuffle_f32x4(r[i + j], r[i + 4 + j], 0xDD);
    }
#pragma GCC unroll 16
  for (int j = 0; j < 8; ++j) {  // and of rows 0-7 and 8-15: whole columns
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
  }
}

// Exp8 (avx2_common.h) in 16 lanes: the same operations, so the same bits in each lane.
__m512 Exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(88.0f), _mm512_max_ps(_mm512_set1_ps(-87.3365f), x));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
#pragma GCC unroll 8
  for (const float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f})
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i pow2 = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(pow2));
}

// Rows [0, R) against the tile's keys: 4 vectors of sums a row.
template <int R>
void DotKeysBlock(int64_t dim, const float* const* q, const float* kt, float* logits) {
  __m512 sum[R][kKeyVectors];
#pragma GCC unroll 32
  for (int x = 0; x < R * kKeyVectors; ++x) sum[x / kKeyVectors][x % kKeyVectors] = _mm512_setzero_ps();
  for (int64_t i = 0; i < dim; ++i) {
    __m512 k[kKeyVectors];
#pragma GCC unroll 4
    for (int v = 0; v < kKeyVectors; ++v) k[v] = _mm512_loadu_ps(kt + i * kKeyTile + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 qi = _mm512_set1_ps(q[r][i]);
#pragma GCC unroll 4
      for (int v = 0; v < kKeyVectors; ++v) sum[r][v] = _mm512_fmadd_ps(qi, k[v], sum[r][v]);
    }
  }
#pragma GCC unroll 32
  for (int x = 0; x < R * kKeyVectors; ++x)
    _mm512_storeu_ps(logits + x / kKeyVectors * kKeyTile + 16 * (x % kKeyVectors),
                     sum[x / kKeyVectors][x % kKeyVectors]);
}

// Rows [0, R) over dimensions [c, c + 64) (those below dim): 4 vectors of sums a row, the
// values of each key loaded once for all rows.
template <int R>
void WeightedSumBlock(int64_t dim, int64_t c, const float* w, const uint16_t* base, size_t stride,
                      const int32_t* slots, int n, float* const* acc) {
  __mmask16 mask[4];
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) mask[v] = FirstLanes(std::max<int64_t>(dim - c - 16 * v, 0));
  // Whole blocks read values with plain loads: masked loads of rows that miss the cache were
  // a quarter slower on the decode of a long context (AMD Zen 5).
  const bool full = dim - c >= 64;
  __m512 sum[R][4];
#pragma GCC unroll 32
  for (int x = 0; x < R * 4; ++x) sum[x / 4][x % 4] = _mm512_maskz_loadu_ps(mask[x % 4], acc[x / 4] + c + 16 * (x % 4));
  for (int j = 0; j < n; ++j) {
    const uint16_t* row = base + slots[j] * stride + c;
    __m512 value[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v)
      value[v] = _mm512_cvtph_ps(full ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 16 * v))
                                      : _mm256_maskz_loadu_epi16(mask[v], row + 16 * v));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 weight = _mm512_set1_ps(w[r * kKeyTile + j]);
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) sum[r][v] = _mm512_fmadd_ps(weight, value[v], sum[r][v]);
    }
  }
#pragma GCC unroll 32
  for (int x = 0; x < R * 4; ++x) _mm512_mask_storeu_ps(acc[x / 4] + c + 16 * (x % 4), mask[x % 4], sum[x / 4][x % 4]);
}

template <int R>
void WeightedSumRows(int64_t dim, const float* w, const uint16_t* base, size_t stride, const int32_t* slots, int n,
                     float* const* acc) {
  for (int64_t c = 0; c < dim; c += 64) WeightedSumBlock<R>(dim, c, w, base, stride, slots, n, acc);
}

}  // namespace

void TransposeKeys(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* kt) {
  for (int j0 = 0; j0 < kKeyTile; j0 += 16) {
    const int count = std::clamp(n - j0, 0, 16);
    int64_t i0 = 0;
    for (; count > 0 && i0 + 16 <= dim; i0 += 16) {
      __m512 r[16];
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j)
        r[j] = j < count ? _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                               base + slots[j0 + j] * stride + i0)))
                         : _mm512_setzero_ps();
      Transpose16(r);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(kt + (i0 + i) * kKeyTile + j0, r[i]);
    }
    for (int64_t i = i0; i < dim; ++i)  // dimensions past the last 16, and keys past n
      for (int j = 0; j < 16; ++j)
        kt[i * kKeyTile + j0 + j] = j < count ? avx2::HalfToFloat(base[slots[j0 + j] * stride + i]) : 0.0f;
  }
}

void DotKeys(int64_t dim, const float* const* q, int n_rows, const float* kt, float* logits) {
  using Fn = void (*)(int64_t, const float* const*, const float*, float*);
  static constexpr Fn kBlocks[] = {nullptr,          DotKeysBlock<1>, DotKeysBlock<2>, DotKeysBlock<3>,
                                   DotKeysBlock<4>, DotKeysBlock<5>, DotKeysBlock<6>};
  for (int r = 0; r < n_rows; r += kRowBlock)
    kBlocks[std::min(kRowBlock, n_rows - r)](dim, q + r, kt, logits + r * kKeyTile);
}

void WeightedSum(int64_t dim, const float* w, int n_rows, const uint16_t* base, size_t stride, const int32_t* slots,
                 int n, float* const* acc) {
  using Fn = void (*)(int64_t, const float*, const uint16_t*, size_t, const int32_t*, int, float* const*);
  static constexpr Fn kBlocks[] = {nullptr,             WeightedSumRows<1>, WeightedSumRows<2>, WeightedSumRows<3>,
                                   WeightedSumRows<4>, WeightedSumRows<5>, WeightedSumRows<6>};
  for (int r = 0; r < n_rows; r += kRowBlock)
    kBlocks[std::min(kRowBlock, n_rows - r)](dim, w + r * kKeyTile, base, stride, slots, n, acc + r);
}

float SoftmaxTile(float* logits, int n, int skip, float scale, float* max, double* sum) {
  // Bit j of a mask: logit j. The row's lanes [0, n), and the window's [skip, n).
  const uint64_t row = n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1, window = row & ~((uint64_t{1} << skip) - 1);
  const __m512 minus_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 x[kKeyVectors], top = minus_inf;
#pragma GCC unroll 4
  for (int v = 0; v < kKeyVectors; ++v) {
    const auto in_row = static_cast<__mmask16>(row >> (16 * v)), in_window = static_cast<__mmask16>(window >> (16 * v));
    x[v] = _mm512_mul_ps(_mm512_maskz_loadu_ps(in_row, logits + 16 * v), _mm512_set1_ps(scale));
    _mm512_mask_storeu_ps(logits + 16 * v, in_row, x[v]);
    top = _mm512_mask_max_ps(top, in_window, x[v], top);  // a NaN x keeps top
  }
  const float tile_max = _mm512_reduce_max_ps(top);
  float shrink = 1.0f;
  if (tile_max > *max) {
    shrink = std::exp(*max - tile_max);
    *sum *= shrink;
    *max = tile_max;
  }
  __m512 total = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int v = 0; v < kKeyVectors; ++v) {
    const auto in_row = static_cast<__mmask16>(row >> (16 * v)), in_window = static_cast<__mmask16>(window >> (16 * v));
    const __m512 e = _mm512_maskz_mov_ps(in_window, Exp16(_mm512_sub_ps(x[v], _mm512_set1_ps(*max))));
    _mm512_mask_storeu_ps(logits + 16 * v, in_row, e);
    total = _mm512_add_ps(total, e);
  }
  const __m256 upper = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(total), 1));
  *sum += _mm512_reduce_add_pd(_mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(total)), _mm512_cvtps_pd(upper)));
  return shrink;
}

}  // namespace kvfuse::kernels::avx512
