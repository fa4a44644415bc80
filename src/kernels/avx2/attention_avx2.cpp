// Attention tile kernels of the avx2 table (kernel_table.h's transpose_keys, dot_keys,
// weighted_sum and softmax_tile). A lane of a vector is one key (dot_keys) or one dimension
// (weighted_sum), and each lane's sum is one chain of FMAs in the contract's order, so
// blocking 2 rows together (to share each key or value load) changes no bit.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/kernel_table.h"

namespace kvfuse::kernels::avx2 {

namespace {

// Lane j of vector i becomes lane i of vector j.
void Transpose8(__m256 (&r)[8]) {
  __m256 t[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; i += 2) {  // rows a, b: a0 b0 a1 b1 | a4 b4 a5 b5, a2 b2 a3 b3 | a6 b6 a7 b7
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; i += 4) {  // columns c | c + 4 of four rows each
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 4; ++i) {  // the two halves of each column joined
    t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
  }
  std::copy(t, t + 8, r);
}

// Rows [0, R) against keys [j0, j0 + 32) for each half of the tile: 4 vectors of sums a row.
template <int R>
void DotKeysBlock(int64_t dim, const float* const* q, const float* kt, float* logits) {
  for (int j0 = 0; j0 < kKeyTile; j0 += 32) {
    __m256 sum[R][4];
#pragma GCC unroll 8
    for (int x = 0; x < R * 4; ++x) sum[x / 4][x % 4] = _mm256_setzero_ps();
    for (int64_t i = 0; i < dim; ++i) {
      const float* keys = kt + i * kKeyTile + j0;
      __m256 k[4];
#pragma GCC unroll 8
      for (int v = 0; v < 4; ++v) k[v] = _mm256_loadu_ps(keys + 8 * v);
#pragma GCC unroll 8
      for (int x = 0; x < R * 4; ++x)
        sum[x / 4][x % 4] = _mm256_fmadd_ps(_mm256_broadcast_ss(q[x / 4] + i), k[x % 4], sum[x / 4][x % 4]);
    }
#pragma GCC unroll 8
    for (int x = 0; x < R * 4; ++x) _mm256_storeu_ps(logits + x / 4 * kKeyTile + j0 + 8 * (x % 4), sum[x / 4][x % 4]);
  }
}

// Rows [0, R) over dimensions [c, c + 8 V): V vectors of sums a row, the values of each key
// loaded once for all rows.
template <int R, int V>
void WeightedSumBlock(int64_t c, const float* w, const uint16_t* base, size_t stride, const int32_t* slots, int n,
                      float* const* acc) {
  __m256 sum[R][V];
#pragma GCC unroll 8
  for (int x = 0; x < R * V; ++x) sum[x / V][x % V] = _mm256_loadu_ps(acc[x / V] + c + 8 * (x % V));
  for (int j = 0; j < n; ++j) {
    const uint16_t* row = base + slots[j] * stride + c;
    __m256 value[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) value[v] = LoadF16(row + 8 * v);
#pragma GCC unroll 8
    for (int x = 0; x < R * V; ++x)
      sum[x / V][x % V] =
          _mm256_fmadd_ps(_mm256_broadcast_ss(w + x / V * kKeyTile + j), value[x % V], sum[x / V][x % V]);
  }
#pragma GCC unroll 8
  for (int x = 0; x < R * V; ++x) _mm256_storeu_ps(acc[x / V] + c + 8 * (x % V), sum[x / V][x % V]);
}

template <int R>
void WeightedSumRows(int64_t dim, const float* w, const uint16_t* base, size_t stride, const int32_t* slots, int n,
                     float* const* acc) {
  int64_t c = 0;
  for (; c + 32 <= dim; c += 32) WeightedSumBlock<R, 4>(c, w, base, stride, slots, n, acc);
  for (; c + 8 <= dim; c += 8) WeightedSumBlock<R, 1>(c, w, base, stride, slots, n, acc);
  for (; c < dim; ++c)
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < n; ++j)
        acc[r][c] = std::fma(w[r * kKeyTile + j], HalfToFloat(base[slots[j] * stride + c]), acc[r][c]);
}

}  // namespace

void TransposeKeys(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* kt) {
  for (int j0 = 0; j0 < kKeyTile; j0 += 8) {
    const int count = std::clamp(n - j0, 0, 8);
    int64_t i0 = 0;
    for (; count > 0 && i0 + 8 <= dim; i0 += 8) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) r[j] = j < count ? LoadF16(base + slots[j0 + j] * stride + i0) : _mm256_setzero_ps();
      Transpose8(r);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(kt + (i0 + i) * kKeyTile + j0, r[i]);
    }
    for (int64_t i = i0; i < dim; ++i)  // dimensions past the last 8, and keys past n
      for (int j = 0; j < 8; ++j)
        kt[i * kKeyTile + j0 + j] = j < count ? HalfToFloat(base[slots[j0 + j] * stride + i]) : 0.0f;
  }
}

void DotKeys(int64_t dim, const float* const* q, int n_rows, const float* kt, float* logits) {
  int r = 0;
  for (; r + 2 <= n_rows; r += 2) DotKeysBlock<2>(dim, q + r, kt, logits + r * kKeyTile);
  if (r < n_rows) DotKeysBlock<1>(dim, q + r, kt, logits + r * kKeyTile);
}

void WeightedSum(int64_t dim, const float* w, int n_rows, const uint16_t* base, size_t stride, const int32_t* slots,
                 int n, float* const* acc) {
  int r = 0;
  for (; r + 2 <= n_rows; r += 2) WeightedSumRows<2>(dim, w + r * kKeyTile, base, stride, slots, n, acc + r);
  if (r < n_rows) WeightedSumRows<1>(dim, w + r * kKeyTile, base, stride, slots, n, acc + r);
}

float SoftmaxTile(float* logits, int n, int skip, float scale, float* max, double* sum) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  // Lanes of the vector at j that lie below `end`.
  auto below = [&](int j, int end) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(end - j), lane); };
  const __m256 minus_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 top = minus_inf;
  for (int j = 0; j < n; j += 8) {
    const __m256i in_row = below(j, n);
    const __m256 x = _mm256_mul_ps(_mm256_maskload_ps(logits + j, in_row), _mm256_set1_ps(scale));
    _mm256_maskstore_ps(logits + j, in_row, x);
    const __m256 in_window = _mm256_castsi256_ps(_mm256_andnot_si256(below(j, skip), in_row));
    top = _mm256_max_ps(_mm256_blendv_ps(minus_inf, x, in_window), top);  // a NaN x keeps top
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, top);
  const float tile_max = *std::max_element(lanes, lanes + 8);
  float shrink = 1.0f;
  if (tile_max > *max) {
    shrink = std::exp(*max - tile_max);
    *sum *= shrink;
    *max = tile_max;
  }
  __m256 total = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8) {
    const __m256i in_row = below(j, n);
    const __m256 in_window = _mm256_castsi256_ps(_mm256_andnot_si256(below(j, skip), in_row));
    const __m256 x = _mm256_sub_ps(_mm256_maskload_ps(logits + j, in_row), _mm256_set1_ps(*max));
    const __m256 e = _mm256_and_ps(Exp8(x), in_window);
    _mm256_maskstore_ps(logits + j, in_row, e);
    total = _mm256_add_ps(total, e);
  }
  _mm256_storeu_ps(lanes, total);
  for (float l : lanes) *sum += l;
  return shrink;
}

}  // namespace kvfuse::kernels::avx2
