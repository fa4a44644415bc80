// K-quant weight blocks (Q4_K, Q5_K, Q6_K) decoded into 8 vectors of 32 unsigned levels with
// the int16 scale of every level pair, and the correction each block's minimums (or level
// offset) make against an activation block: shared by the AVX2 and AVX-512 tiled products.
// Include only from files compiled with -mavx2 -mfma -mf16c.
#pragma once

#include "kernels/avx2/avx2_common.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx2 {
// Internal to each file that includes it: the AVX-512 files compile these with other
// instructions, and an out-of-line copy from one must never serve the AVX2 code.
namespace {

// A decoded block: level vector v (unsigned, < 64) pairs with activations qs[32v, 32v+32).
struct Decoded {
  __m256i q[8];
  __m256i scale[8];  // int16 scale of every level pair in q[v]
  float d;           // block super-scale
};

struct DecodeQ4_K {
  using Block = tensor::BlockQ4_K;
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
  float Correction(const Block& b, const tensor::BlockQ8_K& x) const {
    return x.d * HalfToFloat(b.dmin) * MinsDot(mins, x.bsums);
  }
};

struct DecodeQ5_K {
  using Block = tensor::BlockQ5_K;
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
  float Correction(const Block& b, const tensor::BlockQ8_K& x) const {
    return x.d * HalfToFloat(b.dmin) * MinsDot(mins, x.bsums);
  }
};

struct DecodeQ6_K {
  using Block = tensor::BlockQ6_K;
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
  float Correction(const Block& b, const tensor::BlockQ8_K& x) const {
    int offset = 0;
    for (int g = 0; g < 16; ++g) offset += b.scales[g] * x.bsums[g];
    return x.d * HalfToFloat(b.d) * 32.0f * offset;
  }
};

}  // namespace
}  // namespace kvfuse::kernels::avx2
