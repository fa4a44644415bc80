// Tiled products for Q5_K against Q8_K activations with AVX-512 VNNI (Q4_K and Q6_K, packed
// at load, are in packed_k_avx512.cpp). A weight block is decoded once (avx2/k_block_decoders.h)
// into 4 zmm of 64 unsigned levels with their int16 scales; per activation row, vpmaddubsw
// makes int16 pair sums (levels < 64 keep them below 2^15) and vpdpwssd multiplies them by
// the scales and accumulates in int32: two instructions per 64 levels where AVX2 needs three
// per 32. The minimums' (or level offset's) correction is a vector product with the
// activation block's group sums, kept per row and summed once at the end.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/avx2/k_block_decoders.h"
#include "kernels/avx512/avx512_kernels.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx512 {

using namespace tensor;

namespace {

inline __m512i Join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// A block's correction as a vector: 16 int16 weights against the activation block's 16 group
// sums (bsums), times a float factor; what the AVX2 decoders' Correction computes one by one.
// Q4_K and Q5_K: the decoder's 8 minimums, times the block's dmin.
template <typename MinsDecoder>
inline void CorrectionTerms(const MinsDecoder& d, const typename MinsDecoder::Block& b, __m256i& weights,
                            float& factor) {
  const __m256i mins = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(d.mins));  // < 64 each
  weights = _mm256_or_si256(mins, _mm256_slli_epi32(mins, 16));  // each min for both its groups of 16
  factor = avx2::HalfToFloat(b.dmin);
}
// One weight block ready to multiply: 4 x 64 levels with their int16 scales, and its
// correction's weights and factor.
struct alignas(64) ReadyBlock {
  __m512i q[4], scale[4];
  __m256i correction_weights;
  float d, correction_factor;
};

// A weight row decoded once, block by block, into `ready` (then applied to every activation
// row: decoding again for every few activation rows cost about a third of the time).
template <typename Decoder>
void DecodeRow(int64_t n_blocks, const uint8_t* w, ReadyBlock* ready) {
  const auto* wb = reinterpret_cast<const typename Decoder::Block*>(w);
  Decoder decode;
  avx2::Decoded dec;
  for (int64_t b = 0; b < n_blocks; ++b) {
    decode(wb[b], dec);
    ReadyBlock& r = ready[b];
    for (int k = 0; k < 4; ++k) {
      r.q[k] = Join(dec.q[2 * k], dec.q[2 * k + 1]);
      r.scale[k] = Join(dec.scale[2 * k], dec.scale[2 * k + 1]);
    }
    r.d = dec.d;
    CorrectionTerms(decode, wb[b], r.correction_weights, r.correction_factor);
  }
}

template <int kCols>
void RowTile(int64_t n_blocks, const ReadyBlock* ready, const uint8_t* x, size_t x_row_bytes, float* y,
             size_t y_stride) {
  __m512 acc[kCols];
  __m256 correction[kCols];
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[c] = _mm512_setzero_ps(), correction[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const ReadyBlock& r = ready[b];
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x + c * x_row_bytes)[b];
      __m512i sum = _mm512_setzero_si512();
      for (int k = 0; k < 4; ++k) {
        const __m512i pairs = _mm512_maddubs_epi16(r.q[k], _mm512_loadu_si512(xb.qs + 64 * k));
        sum = _mm512_dpwssd_epi32(sum, pairs, r.scale[k]);
      }
      acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(xb.d * r.d), _mm512_cvtepi32_ps(sum), acc[c]);
      const __m256i group_sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums));
      correction[c] = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * r.correction_factor),
                                      _mm256_cvtepi32_ps(_mm256_madd_epi16(group_sums, r.correction_weights)),
                                      correction[c]);
    }
  }
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c)
    y[c * y_stride] = _mm512_reduce_add_ps(acc[c]) - avx2::HorizontalSum(correction[c]);
}

// The thread's buffer for a decoded row of at least n_blocks blocks.
ReadyBlock* RowBuffer(int64_t n_blocks) {
  thread_local std::vector<ReadyBlock> ready;  // each thread of the pool has its own
  if (static_cast<int64_t>(ready.size()) < n_blocks) ready.resize(n_blocks);
  return ready.data();
}

// One row against one activation row, in exactly the arithmetic of a GEMM tile's column, so a
// token's logits do not depend on whether it was decoded alone or in a batch.
template <typename Decoder>
float DotK(int64_t n, const void* w, const void* x) {
  const int64_t nb = n / kQK_K;
  ReadyBlock* ready = RowBuffer(nb);
  DecodeRow<Decoder>(nb, static_cast<const uint8_t*>(w), ready);
  float y = 0;
  RowTile<1>(nb, ready, static_cast<const uint8_t*>(x), 0, &y, 0);
  return y;
}

template <typename Decoder>
void GemmK(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
           size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  constexpr int kCols = 8;
  const int64_t nb = n / kQK_K;
  ReadyBlock* ready = RowBuffer(nb);
  for (int64_t r = 0; r < n_w_rows; ++r) {
    DecodeRow<Decoder>(nb, w + r * w_row_bytes, ready);
    int64_t c = 0;
    for (; c + kCols <= n_x_rows; c += kCols)
      RowTile<kCols>(nb, ready, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride);
    for (; c + 4 <= n_x_rows; c += 4)
      RowTile<4>(nb, ready, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride);
    for (; c < n_x_rows; ++c)
      RowTile<1>(nb, ready, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride);
  }
}

}  // namespace

float DotQ5_K(int64_t n, const void* w, const void* x) { return DotK<avx2::DecodeQ5_K>(n, w, x); }

void GemmQ5_K(int64_t n, const uint8_t* w, size_t wb, int64_t nw, const uint8_t* x, size_t xb, int64_t nx, float* y, size_t ys) {
  GemmK<avx2::DecodeQ5_K>(n, w, wb, nw, x, xb, nx, y, ys);
}

}  // namespace kvfuse::kernels::avx512
