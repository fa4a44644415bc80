// Tiled products for Q4_0 and Q5_0 with AVX-512 VNNI (Q8_0's are in packed_q8_avx512.cpp).
// One zmm holds two blocks. vpdpbusd multiplies unsigned by signed bytes, so weights are shifted to w + 128
// and the accumulator starts at -128 * sum(x), which cancels the shift exactly (the integer
// sums are exact, whichever operand is shifted); the start is computed once per activation
// row and shared by every weight row of a tile.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/block_loaders.h"
#include "kernels/avx512/avx512_kernels.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx512 {

using namespace tensor;
using avx2::HalfToFloat;
using avx2::LoadQ4_0;
using avx2::LoadQ5_0;

namespace {

inline __m512i Join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
inline __m512 Join(float lo, float hi) {
  return _mm512_castsi512_ps(Join(_mm256_castps_si256(_mm256_set1_ps(lo)), _mm256_castps_si256(_mm256_set1_ps(hi))));
}

// Blocks b and b+1 of a row (b+1 absent when `pair` is false: zero levels and scale).
template <typename Loader>
inline void LoadWeightPair(const uint8_t* row, int64_t b, bool pair, __m512i& values, __m512& scales) {
  const auto* blocks = reinterpret_cast<const typename Loader::Block*>(row);
  const __m256i lo = Loader::Values(blocks[b]);
  const __m256i hi = pair ? Loader::Values(blocks[b + 1]) : _mm256_setzero_si256();
  values = Join(lo, hi);
  scales = Join(HalfToFloat(blocks[b].d), pair ? HalfToFloat(blocks[b + 1].d) : 0.0f);
}

inline void LoadActivationPair(const uint8_t* row, int64_t b, bool pair, __m512i& values, __m512& scales) {
  const auto* blocks = reinterpret_cast<const BlockQ8_0*>(row);
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b].qs));
  const __m256i hi = pair ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b + 1].qs))
                          : _mm256_setzero_si256();
  values = Join(lo, hi);
  scales = Join(HalfToFloat(blocks[b].d), pair ? HalfToFloat(blocks[b + 1].d) : 0.0f);
}

template <typename Loader, int kRows, int kCols>
void Tile(int64_t n_blocks, const uint8_t* w, size_t w_row_bytes, const uint8_t* x,
          size_t x_row_bytes, float* y, size_t y_stride) {
  __m512 acc[kRows][kCols];
  KVFUSE_UNROLL for (int r = 0; r < kRows; ++r)
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[r][c] = _mm512_setzero_ps();
  const __m512i shift = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < n_blocks; b += 2) {
    const bool pair = b + 1 < n_blocks;
    __m512i xv[kCols], start[kCols];
    __m512 xd[kCols];
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      LoadActivationPair(x + c * x_row_bytes, b, pair, xv[c], xd[c]);
      start[c] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), shift, xv[c]));
    }
    KVFUSE_UNROLL for (int r = 0; r < kRows; ++r) {
      __m512i wv;
      __m512 wd;
      LoadWeightPair<Loader>(w + r * w_row_bytes, b, pair, wv, wd);
      const __m512i shifted = _mm512_xor_si512(wv, shift);
      KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
        const __m512 dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start[c], shifted, xv[c]));
        acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(wd, xd[c]), dot, acc[r][c]);
      }
    }
  }
  KVFUSE_UNROLL for (int r = 0; r < kRows; ++r)
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) y[c * y_stride + r] = _mm512_reduce_add_ps(acc[r][c]);
}

// 4 x 4 tiles; a single activation row (a decoded token) or the last few take 4 x 1 tiles,
// whose 4 rows share the activation's loads and run 4 independent sums.
template <typename Loader>
void Gemm(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
          size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  constexpr int kRows = 4, kCols = 4;
  const int64_t nb = n / 32;
  for (int64_t r = 0; r < n_w_rows; r += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, n_w_rows - r);
    const uint8_t* wr = w + r * w_row_bytes;
    int64_t c = 0;
    if (rows == kRows) {
      for (; c + kCols <= n_x_rows; c += kCols)
        Tile<Loader, kRows, kCols>(nb, wr, w_row_bytes, x + c * x_row_bytes, x_row_bytes,
                                   y + c * y_stride + r, y_stride);
      for (; c < n_x_rows; ++c)
        Tile<Loader, kRows, 1>(nb, wr, w_row_bytes, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride);
    }
    for (; c < n_x_rows; ++c)
      for (int64_t i = 0; i < rows; ++i)
        Tile<Loader, 1, 1>(nb, wr + i * w_row_bytes, w_row_bytes, x + c * x_row_bytes, x_row_bytes,
                           y + c * y_stride + r + i, y_stride);
  }
}

// One row against one activation row: a 1 x 1 tile, so that a single token's result is a
// GEMM column's exactly.
template <typename Loader>
float Dot(int64_t n, const void* w, const void* x) {
  float y = 0;
  Tile<Loader, 1, 1>(n / 32, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x), 0, &y, 0);
  return y;
}

}  // namespace

float DotQ4_0(int64_t n, const void* w, const void* x) { return Dot<LoadQ4_0>(n, w, x); }
float DotQ5_0(int64_t n, const void* w, const void* x) { return Dot<LoadQ5_0>(n, w, x); }

void GemmQ4_0(int64_t n, const uint8_t* w, size_t wb, int64_t nw, const uint8_t* x, size_t xb, int64_t nx, float* y, size_t ys) {
  Gemm<LoadQ4_0>(n, w, wb, nw, x, xb, nx, y, ys);
}
void GemmQ5_0(int64_t n, const uint8_t* w, size_t wb, int64_t nw, const uint8_t* x, size_t xb, int64_t nx, float* y, size_t ys) {
  Gemm<LoadQ5_0>(n, w, wb, nw, x, xb, nx, y, ys);
}

}  // namespace kvfuse::kernels::avx512
