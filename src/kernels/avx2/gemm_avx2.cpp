// Tiled matrix products for the 32-element block types: a tile of kRows weight rows x
// kCols activation rows loads each block once and reuses it across the tile, which is
// what makes prompt processing compute-bound rather than load-bound.
#include <algorithm>
#include <cstring>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/block_loaders.h"
#include "kernels/avx2/avx2_kernels.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx2 {

using namespace tensor;

namespace {

template <typename Loader, int kRows, int kCols>
void Tile(int64_t n_blocks, const uint8_t* w, size_t w_row_bytes, const uint8_t* x,
          size_t x_row_bytes, float* y, size_t y_stride) {
  using Block = typename Loader::Block;
  __m256 acc[kRows][kCols];
  KVFUSE_UNROLL for (int r = 0; r < kRows; ++r)
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    __m256i xv[kCols];
    float xd[kCols];
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      const BlockQ8_0& xb = reinterpret_cast<const BlockQ8_0*>(x + c * x_row_bytes)[b];
      xv[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
      xd[c] = HalfToFloat(xb.d);
    }
    KVFUSE_UNROLL for (int r = 0; r < kRows; ++r) {
      const Block& wb = reinterpret_cast<const Block*>(w + r * w_row_bytes)[b];
      const __m256i wv = Loader::Values(wb);
      const __m256i wabs = _mm256_sign_epi8(wv, wv);
      const float wd = HalfToFloat(wb.d);
      KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
        const __m256i prod = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xv[c], wv));
        const __m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(prod, _mm256_set1_epi16(1)));
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(wd * xd[c]), sum, acc[r][c]);
      }
    }
  }
  KVFUSE_UNROLL for (int r = 0; r < kRows; ++r)
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) y[c * y_stride + r] = HorizontalSum(acc[r][c]);
}

template <typename Loader>
void Gemm(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
          size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  constexpr int kRows = 4, kCols = 2;
  const int64_t nb = n / 32;
  for (int64_t r = 0; r < n_w_rows; r += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, n_w_rows - r);
    const uint8_t* wr = w + r * w_row_bytes;
    for (int64_t c = 0; c < n_x_rows; c += kCols) {
      const int64_t cols = std::min<int64_t>(kCols, n_x_rows - c);
      const uint8_t* xc = x + c * x_row_bytes;
      float* yt = y + c * y_stride + r;
      if (rows == 4 && cols == 2) Tile<Loader, 4, 2>(nb, wr, w_row_bytes, xc, x_row_bytes, yt, y_stride);
      else if (rows == 4) Tile<Loader, 4, 1>(nb, wr, w_row_bytes, xc, x_row_bytes, yt, y_stride);
      else
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j)
            Tile<Loader, 1, 1>(nb, wr + i * w_row_bytes, w_row_bytes, xc + j * x_row_bytes,
                               x_row_bytes, yt + j * y_stride + i, y_stride);
    }
  }
}

}  // namespace

void GemmQ8_0(int64_t n, const uint8_t* w, size_t wb, int64_t nw, const uint8_t* x, size_t xb, int64_t nx, float* y, size_t ys) {
  Gemm<LoadQ8_0>(n, w, wb, nw, x, xb, nx, y, ys);
}
void GemmQ4_0(int64_t n, const uint8_t* w, size_t wb, int64_t nw, const uint8_t* x, size_t xb, int64_t nx, float* y, size_t ys) {
  Gemm<LoadQ4_0>(n, w, wb, nw, x, xb, nx, y, ys);
}
void GemmQ5_0(int64_t n, const uint8_t* w, size_t wb, int64_t nw, const uint8_t* x, size_t xb, int64_t nx, float* y, size_t ys) {
  Gemm<LoadQ5_0>(n, w, wb, nw, x, xb, nx, y, ys);
}

}  // namespace kvfuse::kernels::avx2
