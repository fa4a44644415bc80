// F16 products of the avx512 table (f32 activations), over weights packed 16 rows at a time:
// per group of 16 rows, column k's 16 values are adjacent (32 bytes), so one conversion gives
// a zmm whose lane r is row r, multiplied by column k of an activation row broadcast.
//
// Per (row, activation row) the arithmetic is four running sums, sum j taking the columns
// k = j mod 4 in order (acc_j = fma(w_k, x_k, acc_j)), added as (acc_0 + acc_1) + (acc_2 +
// acc_3). The single-row dot (four lanes of an xmm), which serves unpacked rows, computes
// exactly that, so every path of the table agrees bit for bit. Rows whose length is not a
// multiple of 4 are not packed. (maskz conversions: the unmasked ones trip a false
// uninitialised warning of GCC 12.)
#include <immintrin.h>

#include <algorithm>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/packed_common.h"
#include "kernels/kernel_table.h"

namespace kvfuse::kernels::avx512 {

namespace {

template <int kCols>
void GroupTile(int64_t n, const uint16_t* group, const float* x, size_t x_stride, float* y, size_t y_stride,
               int n_rows) {
  __m512 acc[kCols][4];
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c)
    KVFUSE_UNROLL for (int j = 0; j < 4; ++j) acc[c][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < n; k += 4) {
    if constexpr (kCols == 1) PrefetchAhead(group + k * kGroup, 4 * kGroup * sizeof(uint16_t));
    __m512 w[4];
    KVFUSE_UNROLL for (int j = 0; j < 4; ++j)
      w[j] = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_load_si256(reinterpret_cast<const __m256i*>(group + (k + j) * kGroup)));
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c)
      KVFUSE_UNROLL for (int j = 0; j < 4; ++j)
        acc[c][j] = _mm512_fmadd_ps(w[j], _mm512_set1_ps(x[c * x_stride + k + j]), acc[c][j]);
  }
  __m512 sums[kCols];
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c)
    sums[c] = _mm512_add_ps(_mm512_add_ps(acc[c][0], acc[c][1]), _mm512_add_ps(acc[c][2], acc[c][3]));
  StoreRows(sums, kCols, y, y_stride, n_rows);
}

// GroupTile for two groups (32 rows) at once: each broadcast activation value serves both, so
// loads (of weights and of broadcasts) no longer outnumber the FMAs as they do for one group
// (5 to 4 at 4 activation rows). The same sums per (row, activation row) in the same order.
template <int kCols>
void GroupPairTile(int64_t n, const uint16_t* group0, const uint16_t* group1, const float* x, size_t x_stride,
                   float* y, size_t y_stride, int n_rows1) {
  __m512 acc[2][kCols][4];
  KVFUSE_UNROLL for (int g = 0; g < 2; ++g)
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c)
      KVFUSE_UNROLL for (int j = 0; j < 4; ++j) acc[g][c][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < n; k += 4) {
    __m512 w[2][4];
    KVFUSE_UNROLL for (int j = 0; j < 4; ++j) {
      w[0][j] = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_load_si256(reinterpret_cast<const __m256i*>(group0 + (k + j) * kGroup)));
      w[1][j] = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_load_si256(reinterpret_cast<const __m256i*>(group1 + (k + j) * kGroup)));
    }
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c)
      KVFUSE_UNROLL for (int j = 0; j < 4; ++j) {
        const __m512 xv = _mm512_set1_ps(x[c * x_stride + k + j]);
        acc[0][c][j] = _mm512_fmadd_ps(w[0][j], xv, acc[0][c][j]);
        acc[1][c][j] = _mm512_fmadd_ps(w[1][j], xv, acc[1][c][j]);
      }
  }
  __m512 sums[2][kCols];
  KVFUSE_UNROLL for (int g = 0; g < 2; ++g)
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c)
      sums[g][c] = _mm512_add_ps(_mm512_add_ps(acc[g][c][0], acc[g][c][1]), _mm512_add_ps(acc[g][c][2], acc[g][c][3]));
  StoreRows(sums[0], kCols, y, y_stride, kGroup);
  StoreRows(sums[1], kCols, y + kGroup, y_stride, n_rows1);
}

}  // namespace

size_t PackedBytesF16(int64_t n_cols, int64_t n_rows) {
  if (n_cols % 4 != 0) return 0;
  return static_cast<size_t>((n_rows + kGroup - 1) / kGroup) * n_cols * kGroup * sizeof(uint16_t);
}

void PackF16(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out) {
  auto* packed = reinterpret_cast<uint16_t*>(out);
  for (int64_t g = 0; g < (n_rows + kGroup - 1) / kGroup; ++g)
    for (int r = 0; r < kGroup; ++r) {
      const int64_t row = g * kGroup + r;
      const auto* src = row < n_rows ? reinterpret_cast<const uint16_t*>(rows + row * row_bytes) : nullptr;
      for (int64_t k = 0; k < n_cols; ++k) packed[(g * n_cols + k) * kGroup + r] = src ? src[k] : 0;
    }
}

void PackedGemmF16(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                   size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  constexpr int kCols = 4;
  const auto* xf = reinterpret_cast<const float*>(x);
  const size_t x_stride = x_row_bytes / sizeof(float);
  constexpr int kPairCols = 3;  // 24 sums and 8 weight vectors: the 32 registers
  for (int64_t r = row_begin; r < row_end; r += kGroup) {
    const auto* group = reinterpret_cast<const uint16_t*>(packed) + (r / kGroup) * n * kGroup;
    const int rows = static_cast<int>(std::min<int64_t>(kGroup, row_end - r));
    int64_t c = 0;
    if (n_x_rows >= kPairCols && row_end - r > kGroup) {  // this group and the next together
      const int rows1 = static_cast<int>(std::min<int64_t>(kGroup, row_end - r - kGroup));
      for (; c + kPairCols <= n_x_rows; c += kPairCols)
        GroupPairTile<kPairCols>(n, group, group + n * kGroup, xf + c * x_stride, x_stride, y + c * y_stride + r, y_stride,
                                 rows1);
      for (; c < n_x_rows; ++c)
        GroupPairTile<1>(n, group, group + n * kGroup, xf + c * x_stride, x_stride, y + c * y_stride + r, y_stride, rows1);
      r += kGroup;
      continue;
    }
    for (; c + kCols <= n_x_rows; c += kCols)
      GroupTile<kCols>(n, group, xf + c * x_stride, x_stride, y + c * y_stride + r, y_stride, rows);
    for (; c < n_x_rows; ++c) GroupTile<1>(n, group, xf + c * x_stride, x_stride, y + c * y_stride + r, y_stride, rows);
  }
}

float DotF16(int64_t n, const void* w, const void* x) {
  const auto* wh = static_cast<const uint16_t*>(w);
  const auto* xf = static_cast<const float*>(x);
  __m128 acc = _mm_setzero_ps();  // lane j: the running sum of columns j mod 4
  int64_t k = 0;
  for (; k + 4 <= n; k += 4)
    acc = _mm_fmadd_ps(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(wh + k))), _mm_loadu_ps(xf + k), acc);
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, acc);
  for (; k < n; ++k)
    lanes[k % 4] = _mm_cvtss_f32(_mm_fmadd_ss(_mm_cvtph_ps(_mm_cvtsi32_si128(wh[k])), _mm_set_ss(xf[k]),
                                              _mm_set_ss(lanes[k % 4])));
  return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

}  // namespace kvfuse::kernels::avx512
