// Attention helpers of the avx512 table. Keys are gathered transposed, [dim][kKeyTile], so a
// query's logits for 16 keys are one FMA per dimension (q_i broadcast against 16 keys' i-th
// elements) with no horizontal sums; values are weighted 16 dimensions per FMA. The result
// for a row depends only on that row (the helpers are called row by row).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/kernel_table.h"

namespace kvfuse::kernels::avx512 {

void GatherKeys(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* out) {
  for (int j = 0; j < n; ++j) {
    const uint16_t* row = base + slots[j] * stride;
    for (int64_t i = 0; i < dim; ++i) out[i * kKeyTile + j] = avx2::HalfToFloat(row[i]);
  }
  for (int j = n; j < (n + 15) / 16 * 16; ++j)  // the last group of 16 is read whole
    for (int64_t i = 0; i < dim; ++i) out[i * kKeyTile + j] = 0.0f;
}

// Per group of 16 keys: the even dimensions' products and the odd ones' summed apart in order
// of i (two FMA chains per group), then added.
void DotKeys(int64_t dim, const float* q, const float* keys, int n, float* out) {
  const int groups = (n + 15) / 16;
  __m512 even[kKeyTile / 16], odd[kKeyTile / 16];
  for (int g = 0; g < groups; ++g) even[g] = odd[g] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= dim; i += 2) {
    const __m512 q0 = _mm512_set1_ps(q[i]), q1 = _mm512_set1_ps(q[i + 1]);
    const float* column = keys + i * kKeyTile;
    for (int g = 0; g < groups; ++g) {
      even[g] = _mm512_fmadd_ps(q0, _mm512_loadu_ps(column + 16 * g), even[g]);
      odd[g] = _mm512_fmadd_ps(q1, _mm512_loadu_ps(column + kKeyTile + 16 * g), odd[g]);
    }
  }
  if (i < dim)
    for (int g = 0; g < groups; ++g)
      even[g] = _mm512_fmadd_ps(_mm512_set1_ps(q[i]), _mm512_loadu_ps(keys + i * kKeyTile + 16 * g), even[g]);
  for (int g = 0; g < groups; ++g) {
    const int left = std::min(16, n - 16 * g);
    _mm512_mask_storeu_ps(out + 16 * g, static_cast<__mmask16>((1u << left) - 1), _mm512_add_ps(even[g], odd[g]));
  }
}

// acc += sum_j w[j] * row_j: even keys summed onto acc, odd keys apart, then added; widths
// not a multiple of 16 row by row.
void WeightedSumF32(int64_t dim, const float* w, const float* rows, int n, float* acc) {
  if (dim % 16 != 0 || dim > 256) {
    for (int j = 0; j < n; ++j)
      for (int64_t i = 0; i < dim; ++i) acc[i] = std::fma(w[j], rows[j * dim + i], acc[i]);
    return;
  }
  const int vectors = static_cast<int>(dim / 16);
  __m512 even[16], odd[16];
  for (int v = 0; v < vectors; ++v) even[v] = _mm512_loadu_ps(acc + 16 * v), odd[v] = _mm512_setzero_ps();
  int j = 0;
  for (; j + 2 <= n; j += 2) {
    const __m512 w0 = _mm512_set1_ps(w[j]), w1 = _mm512_set1_ps(w[j + 1]);
    const float* r0 = rows + j * dim;
    const float* r1 = r0 + dim;
    for (int v = 0; v < vectors; ++v) {
      even[v] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(r0 + 16 * v), even[v]);
      odd[v] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(r1 + 16 * v), odd[v]);
    }
  }
  if (j < n) {
    const __m512 w0 = _mm512_set1_ps(w[j]);
    for (int v = 0; v < vectors; ++v) even[v] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(rows + j * dim + 16 * v), even[v]);
  }
  for (int v = 0; v < vectors; ++v) _mm512_storeu_ps(acc + 16 * v, _mm512_add_ps(even[v], odd[v]));
}

}  // namespace kvfuse::kernels::avx512
