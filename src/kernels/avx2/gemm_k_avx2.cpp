// Tiled matrix products for the 256-element K-quant types against Q8_K activations.
// Unpacking a K-quant block (nibbles, high bits, 6-bit scales) costs more than the
// multiply itself, so each weight row is decoded once (k_block_decoders.h) and then applied
// to every activation row, kCols at a time.
#include <algorithm>
#include <vector>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/k_block_decoders.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx2 {

using namespace tensor;

namespace {

// A weight block decoded, with the decoder that did it (it holds what the block's correction
// needs).
template <typename Decoder>
struct ReadyBlock {
  Decoded dec;
  Decoder decoder;
};

template <typename Decoder, int kCols>
void RowTile(int64_t n_blocks, const typename Decoder::Block* wb, const ReadyBlock<Decoder>* ready,
             const uint8_t* x, size_t x_row_bytes, float* y, size_t y_stride) {
  __m256 acc[kCols];
  float correction[kCols] = {};
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const Decoded& dec = ready[b].dec;
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x + c * x_row_bytes)[b];
      __m256i sum = _mm256_setzero_si256();
      for (int v = 0; v < 8; ++v) {
        const __m256i p = _mm256_maddubs_epi16(dec.q[v], Load32(xb.qs + 32 * v));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, dec.scale[v]));
      }
      acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * dec.d), _mm256_cvtepi32_ps(sum), acc[c]);
      correction[c] += ready[b].decoder.Correction(wb[b], xb);
    }
  }
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) y[c * y_stride] = HorizontalSum(acc[c]) - correction[c];
}

// Each weight row is decoded once and then applied to every activation row (decoding it
// again for every few of them cost about a third of the time). The arithmetic per (row,
// activation row) is DotQ*_K's, so a token's result does not depend on its batch.
template <typename Decoder>
void GemmK(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
           size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  constexpr int kCols = 4;
  const int64_t nb = n / kQK_K;
  thread_local std::vector<ReadyBlock<Decoder>> ready;  // each thread of the pool has its own
  if (static_cast<int64_t>(ready.size()) < nb) ready.resize(nb);
  for (int64_t r = 0; r < n_w_rows; ++r) {
    const auto* wb = reinterpret_cast<const typename Decoder::Block*>(w + r * w_row_bytes);
    for (int64_t b = 0; b < nb; ++b) ready[b].decoder(wb[b], ready[b].dec);
    int64_t c = 0;
    for (; c + kCols <= n_x_rows; c += kCols)
      RowTile<Decoder, kCols>(nb, wb, ready.data(), x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride);
    for (; c < n_x_rows; ++c)
      RowTile<Decoder, 1>(nb, wb, ready.data(), x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride);
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
