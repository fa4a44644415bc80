// Tiled matrix products for the 256-element K-quant types against Q8_K activations.
// Unpacking a K-quant block (nibbles, high bits, 6-bit scales) costs more than the
// multiply itself, so each weight block is decoded once (k_block_decoders.h) and then
// applied to kCols activation rows.
#include <algorithm>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/k_block_decoders.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx2 {

using namespace tensor;

namespace {

template <typename Decoder, int kCols>
void RowTile(int64_t n_blocks, const uint8_t* w, const uint8_t* x, size_t x_row_bytes, float* y,
             size_t y_stride) {
  using Block = typename Decoder::Block;
  const Block* wb = reinterpret_cast<const Block*>(w);
  __m256 acc[kCols];
  float correction[kCols] = {};
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[c] = _mm256_setzero_ps();
  Decoder decode;
  Decoded dec;
  for (int64_t b = 0; b < n_blocks; ++b) {
    decode(wb[b], dec);
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x + c * x_row_bytes)[b];
      __m256i sum = _mm256_setzero_si256();
      for (int v = 0; v < 8; ++v) {
        const __m256i p = _mm256_maddubs_epi16(dec.q[v], Load32(xb.qs + 32 * v));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, dec.scale[v]));
      }
      acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * dec.d), _mm256_cvtepi32_ps(sum), acc[c]);
      correction[c] += decode.Correction(wb[b], xb);
    }
  }
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) y[c * y_stride] = HorizontalSum(acc[c]) - correction[c];
}

template <typename Decoder>
void GemmK(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
           size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  constexpr int kCols = 4;
  const int64_t nb = n / kQK_K;
  for (int64_t r = 0; r < n_w_rows; ++r) {
    const uint8_t* wr = w + r * w_row_bytes;
    int64_t c = 0;
    for (; c + kCols <= n_x_rows; c += kCols)
      RowTile<Decoder, kCols>(nb, wr, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride);
    for (; c < n_x_rows; ++c)
      RowTile<Decoder, 1>(nb, wr, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride);
  }
}

}  // namespace

void GemmQ4_K(int64_t n, const uint8_t* w, size_t wb, int64_t nw, const uint8_t* x, size_t xb, int64_t nx, float* y, size_t ys) {
  GemmK<DecodeQ4_K>(n, w, wb, nw, x, xb, nx, y, ys);
}
void GemmQ5_K(int64_t n, const uint8_t* w, size_t wb, int64_t nw, const uint8_t* x, size_t xb, int64_t nx, float* y, size_t ys) {
  GemmK<DecodeQ5_K>(n, w, wb, nw, x, xb, nx, y, ys);
}
void GemmQ6_K(int64_t n, const uint8_t* w, size_t wb, int64_t nw, const uint8_t* x, size_t xb, int64_t nx, float* y, size_t ys) {
  GemmK<DecodeQ6_K>(n, w, wb, nw, x, xb, nx, y, ys);
}

}  // namespace kvfuse::kernels::avx2
