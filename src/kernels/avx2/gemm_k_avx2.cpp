// Tiled matrix products for the 256-element K-quant types against Q8_K activations.
// Unpacking a K-quant block (nibbles, high bits, 6-bit scales) costs more than the
// multiply itself, so each weight block is decoded once into 8 vectors of 32 unsigned
// levels with their int16 scales and then applied to kCols activation rows.
#include <algorithm>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/avx2_kernels.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx2 {

using namespace tensor;

namespace {

// A decoded block: level vector v (unsigned, < 64) pairs with activations qs[32v, 32v+32).
struct Decoded {
  __m256i q[8];
  __m256i scale[8];  // int16 scale of every level pair in q[v]
  float d;           // block super-scale
};

struct DecodeQ4_K {
  using Block = BlockQ4_K;
  int mins[8];
  void operator()(const Block& b, Decoded& out) {
    int scales[8];
    UnpackScaleMin(b.scales, scales, mins);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int j = 0; j < 4; ++j) {
      const __m256i q4 = Load32(b.qs + 32 * j);
      out.q[2 * j] = _mm256_and_si256(q4, low4);
      out.q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
    }
    for (int v = 0; v < 8; ++v) out.scale[v] = _mm256_set1_epi16(static_cast<int16_t>(scales[v]));
    out.d = HalfToFloat(b.d);
  }
  // What to subtract from the block's contribution for activation block x.
  float Correction(const Block& b, const BlockQ8_K& x) const {
    return x.d * HalfToFloat(b.dmin) * MinsDot(mins, x.bsums);
  }
};

struct DecodeQ5_K {
  using Block = BlockQ5_K;
  int mins[8];
  void operator()(const Block& b, Decoded& out) {
    int scales[8];
    UnpackScaleMin(b.scales, scales, mins);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    const __m256i qh = Load32(b.qh);
    for (int j = 0; j < 4; ++j) {
      const __m256i q4 = Load32(b.qs + 32 * j);
      const __m256i h0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j)), one);
      const __m256i h1 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j + 1)), one);
      out.q[2 * j] = _mm256_or_si256(_mm256_and_si256(q4, low4), _mm256_slli_epi16(h0, 4));
      out.q[2 * j + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), low4),
                                         _mm256_slli_epi16(h1, 4));
    }
    for (int v = 0; v < 8; ++v) out.scale[v] = _mm256_set1_epi16(static_cast<int16_t>(scales[v]));
    out.d = HalfToFloat(b.d);
  }
  float Correction(const Block& b, const BlockQ8_K& x) const {
    return x.d * HalfToFloat(b.dmin) * MinsDot(mins, x.bsums);
  }
};

struct DecodeQ6_K {
  using Block = BlockQ6_K;
  void operator()(const Block& b, Decoded& out) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i low2 = _mm256_set1_epi8(0x03);
    for (int half = 0; half < 2; ++half) {
      const __m256i ql0 = Load32(b.ql + 64 * half);
      const __m256i ql1 = Load32(b.ql + 64 * half + 32);
      const __m256i qh = Load32(b.qh + 32 * half);
      __m256i* q = out.q + 4 * half;
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, low2), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), low2), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), low2), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), low2), 4));
      for (int k = 0; k < 4; ++k) {
        const int g = 8 * half + 2 * k;
        out.scale[4 * half + k] = _mm256_set_m128i(_mm_set1_epi16(b.scales[g + 1]), _mm_set1_epi16(b.scales[g]));
      }
    }
    out.d = HalfToFloat(b.d);
  }
  // Levels are stored +32; the offset comes back out through the group sums.
  float Correction(const Block& b, const BlockQ8_K& x) const {
    int offset = 0;
    for (int g = 0; g < 16; ++g) offset += b.scales[g] * x.bsums[g];
    return x.d * HalfToFloat(b.d) * 32.0f * offset;
  }
};

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
