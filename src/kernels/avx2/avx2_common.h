// Small AVX2 helpers shared by the avx2/ kernels (include only from files compiled
// with -mavx2 -mfma -mf16c).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <initializer_list>

// GCC keeps a tile's accumulator arrays in memory unless its loops are fully unrolled.
#define KVFUSE_UNROLL _Pragma("GCC unroll 4")

namespace kvfuse::kernels::avx2 {
// Internal to each file that includes it: the AVX-512 files compile these with other
// instructions, and an out-of-line copy from one must never serve the AVX2 code.
namespace {

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int32_t HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

inline float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }
// e^x as 2^k * e^r with k = round(x / ln 2) and r = x - k ln 2 (ln 2 in two parts, so r is
// exact), e^r by Cephes' degree-6 polynomial; x clamped to where the result is a normal float.
inline __m256 Exp8(__m256 x) {
  // Operands in this order pass a NaN through (min/max return their second one on a NaN).
  x = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.3365f), x));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  for (const float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f})
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^k: k + 127 in the exponent field (k in [-126, 127] after the clamp).
  const __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2));
}

// 8 f16 values converted (exactly).
inline __m256 LoadF16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Sum of products of 32 signed bytes, as 8 int32 partial sums. maddubs wants an
// unsigned left operand, so the sign of x moves onto y.
inline __m256i DotI8Pairs(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

// Unsigned bytes x (each < 128) times signed bytes y, as 8 int32 partial sums.
inline __m256i DotU8I8Pairs(__m256i x, __m256i y) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

// 32 nibbles from 16 bytes: low nibbles in bytes 0..15, high nibbles in bytes 16..31.
inline __m256i UnpackNibbles16(const uint8_t* p) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Byte j is 0xFF where bit j of `bits` is set, else 0.
inline __m256i ExpandBits32(uint32_t bits) {
  const __m256i byte_of_bit = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                0x0101010101010101, 0x0000000000000000);
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), byte_of_bit);
  // Every bit set except the one each byte tests.
  const __m256i others = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  return _mm256_cmpeq_epi8(_mm256_or_si256(spread, others), _mm256_set1_epi64x(-1));
}

inline __m256i Load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// The 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K block.
inline void UnpackScaleMin(const uint8_t* q, int* scales, int* mins) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = q[j] & 63;
    mins[j] = q[j + 4] & 63;
    scales[j + 4] = (q[j + 8] & 0x0F) | ((q[j] >> 6) << 4);
    mins[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4);
  }
}

// sum over sub-blocks of min * (sum of the 32 activations of that sub-block).
inline int MinsDot(const int* mins, const int16_t* bsums) {
  int sum = 0;
  for (int s = 0; s < 8; ++s) sum += mins[s] * (bsums[2 * s] + bsums[2 * s + 1]);
  return sum;
}

}  // namespace
}  // namespace kvfuse::kernels::avx2
