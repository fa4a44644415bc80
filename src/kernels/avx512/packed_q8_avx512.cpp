// Q8_0 products of the avx512 table, over weights packed 16 rows at a time.
//
// Packed layout, per group of 16 rows and per block of 32 columns (kBlockBytes):
//   float d[16]            the rows' block scales
//   uint8 q[8][16][4]      q[s][r][j] = level (s * 4 + j) of row r, + 128
// One vpdpbusd multiplies a 4-column slice of all 16 rows by 4 activation bytes broadcast:
// each lane is one row's sum, so nothing is reduced across lanes. The weights' +128 is
// cancelled exactly by starting each block's integer sum at -128 * sum(x) of its activation
// block. Per (row, activation row) the arithmetic is therefore, block by block in order,
//   acc = fma(float(exact integer dot), w_d * x_d, acc)
// and the single-row dot and the unpacked GEMM below compute exactly that, so a token's
// result never depends on which of them ran.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/kernel_table.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx512 {

using tensor::BlockQ8_0;

namespace {

constexpr int kGroup = static_cast<int>(kPackedRowGroup);
constexpr size_t kBlockBytes = kGroup * sizeof(float) + kGroup * 32;  // 576: 9 cache lines

// The exact integer dot of two blocks of 32 signed levels.
inline int32_t BlockDot(const int8_t* a, const int8_t* b) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  const __m256i pairs = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(x)),
                                          _mm256_cvtepi8_epi16(_mm256_castsi256_si128(y)));
  const __m256i pairs_hi = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1)),
                                             _mm256_cvtepi8_epi16(_mm256_extracti128_si256(y, 1)));
  return avx2::HorizontalSum(_mm256_add_epi32(pairs, pairs_hi));
}

// -128 * sum(x) of every block of each activation row: [row][block].
void Corrections(int64_t nb, const uint8_t* x, size_t x_row_bytes, int64_t n_x_rows, std::vector<int32_t>& out) {
  out.resize(nb * n_x_rows);
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t c = 0; c < n_x_rows; ++c) {
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(x + c * x_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b].qs));
      const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(ones, v), _mm256_set1_epi16(1));
      out[c * nb + b] = -128 * avx2::HorizontalSum(sums);
    }
  }
}

inline __m512i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// kCols activation rows against one packed group; lanes >= n_rows are not stored.
template <int kCols>
void GroupTile(int64_t nb, const uint8_t* group, const uint8_t* x, size_t x_row_bytes, const int32_t* corrections,
               float* y, size_t y_stride, int n_rows) {
  __m512 acc[kCols];
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* block = group + b * kBlockBytes;
    const __m512 wd = _mm512_load_ps(reinterpret_cast<const float*>(block));
    __m512i w[8];
    KVFUSE_UNROLL for (int s = 0; s < 8; ++s) w[s] = _mm512_load_si512(block + 64 + 64 * s);
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      const BlockQ8_0& xb = reinterpret_cast<const BlockQ8_0*>(x + c * x_row_bytes)[b];
      // Two chains of four (integer sums: splitting them changes nothing).
      __m512i lo = _mm512_set1_epi32(corrections[c * nb + b]), hi = _mm512_setzero_si512();
      KVFUSE_UNROLL for (int s = 0; s < 4; ++s) {
        lo = _mm512_dpbusd_epi32(lo, w[s], Broadcast4(xb.qs + 4 * s));
        hi = _mm512_dpbusd_epi32(hi, w[s + 4], Broadcast4(xb.qs + 16 + 4 * s));
      }
      const __m512 scale = _mm512_mul_ps(wd, _mm512_set1_ps(avx2::HalfToFloat(xb.d)));
      // (maskz: the unmasked form trips a false uninitialised warning of GCC 12)
      const __m512 dot = _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_add_epi32(lo, hi));
      acc[c] = _mm512_fmadd_ps(dot, scale, acc[c]);
    }
  }
  const __mmask16 keep = static_cast<__mmask16>((1u << n_rows) - 1);
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) _mm512_mask_storeu_ps(y + c * y_stride, keep, acc[c]);
}

}  // namespace

size_t PackedBytesQ8_0(int64_t n_cols, int64_t n_rows) {
  return static_cast<size_t>((n_rows + kGroup - 1) / kGroup) * (n_cols / 32) * kBlockBytes;
}

void PackQ8_0(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out) {
  const int64_t nb = n_cols / 32;
  for (int64_t g = 0; g < (n_rows + kGroup - 1) / kGroup; ++g)
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* block = out + (g * nb + b) * kBlockBytes;
      float* d = reinterpret_cast<float*>(block);
      uint8_t* q = block + kGroup * sizeof(float);
      for (int r = 0; r < kGroup; ++r) {
        const int64_t row = g * kGroup + r;
        const BlockQ8_0* src = row < n_rows ? reinterpret_cast<const BlockQ8_0*>(rows + row * row_bytes) + b : nullptr;
        d[r] = src ? avx2::HalfToFloat(src->d) : 0.0f;
        for (int k = 0; k < 32; ++k)
          q[(k / 4) * kGroup * 4 + r * 4 + k % 4] = static_cast<uint8_t>((src ? src->qs[k] : 0) + 128);
      }
    }
}

void PackedGemmQ8_0(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  constexpr int kCols = 4;
  const int64_t nb = n / 32;
  thread_local std::vector<int32_t> corrections;  // each thread of the pool has its own
  Corrections(nb, x, x_row_bytes, n_x_rows, corrections);
  for (int64_t r = row_begin; r < row_end; r += kGroup) {
    const uint8_t* group = packed + (r / kGroup) * nb * kBlockBytes;
    const int rows = static_cast<int>(std::min<int64_t>(kGroup, row_end - r));
    int64_t c = 0;
    for (; c + kCols <= n_x_rows; c += kCols)
      GroupTile<kCols>(nb, group, x + c * x_row_bytes, x_row_bytes, corrections.data() + c * nb,
                       y + c * y_stride + r, y_stride, rows);
    for (; c < n_x_rows; ++c)
      GroupTile<1>(nb, group, x + c * x_row_bytes, x_row_bytes, corrections.data() + c * nb, y + c * y_stride + r,
                   y_stride, rows);
  }
}

float DotQ8_0(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ8_0*>(w);
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    const float scale = avx2::HalfToFloat(wb[b].d) * avx2::HalfToFloat(xb[b].d);
    acc = std::fma(static_cast<float>(BlockDot(wb[b].qs, xb[b].qs)), scale, acc);
  }
  return acc;
}

// Unpacked rows (weights that were not packed for this table): one dot per pair.
void GemmQ8_0(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  for (int64_t c = 0; c < n_x_rows; ++c)
    for (int64_t r = 0; r < n_w_rows; ++r) y[c * y_stride + r] = DotQ8_0(n, w + r * w_row_bytes, x + c * x_row_bytes);
}

}  // namespace kvfuse::kernels::avx512
