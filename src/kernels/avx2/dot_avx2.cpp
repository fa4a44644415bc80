#include <cstring>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/avx2_kernels.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx2 {

using namespace tensor;

float DotQ8_0(int64_t n, const void* w, const void* x) {
  const BlockQ8_0* a = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    const __m256 d = _mm256_set1_ps(HalfToFloat(a[i].d) * HalfToFloat(b[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotI8Pairs(qa, qb)), acc);
  }
  return HorizontalSum(acc);
}

float DotQ4_0(int64_t n, const void* w, const void* x) {
  const BlockQ4_0* a = static_cast<const BlockQ4_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const __m256i qa = _mm256_sub_epi8(UnpackNibbles16(a[i].qs), _mm256_set1_epi8(8));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    const __m256 d = _mm256_set1_ps(HalfToFloat(a[i].d) * HalfToFloat(b[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotI8Pairs(qa, qb)), acc);
  }
  return HorizontalSum(acc);
}

float DotQ5_0(int64_t n, const void* w, const void* x) {
  const BlockQ5_0* a = static_cast<const BlockQ5_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    uint32_t qh;
    std::memcpy(&qh, a[i].qh, 4);
    const __m256i fifth = _mm256_and_si256(ExpandBits32(qh), _mm256_set1_epi8(0x10));
    const __m256i qa = _mm256_sub_epi8(_mm256_or_si256(UnpackNibbles16(a[i].qs), fifth),
                                       _mm256_set1_epi8(16));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    const __m256 d = _mm256_set1_ps(HalfToFloat(a[i].d) * HalfToFloat(b[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(DotI8Pairs(qa, qb)), acc);
  }
  return HorizontalSum(acc);
}


float DotQ4_K(int64_t n, const void* w, const void* x) {
  const BlockQ4_K* a = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  float min_acc = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int scales[8], mins[8];
    UnpackScaleMin(a[i].scales, scales, mins);
    __m256i sum = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i q4 = Load32(a[i].qs + 32 * j);
      const __m256i lo = _mm256_and_si256(q4, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
      const __m256i p0 = _mm256_maddubs_epi16(lo, Load32(b[i].qs + 64 * j));
      const __m256i p1 = _mm256_maddubs_epi16(hi, Load32(b[i].qs + 64 * j + 32));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p0, _mm256_set1_epi16(scales[2 * j])));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p1, _mm256_set1_epi16(scales[2 * j + 1])));
    }
    const float d = b[i].d * HalfToFloat(a[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
    min_acc += b[i].d * HalfToFloat(a[i].dmin) * MinsDot(mins, b[i].bsums);
  }
  return HorizontalSum(acc) - min_acc;
}

float DotQ5_K(int64_t n, const void* w, const void* x) {
  const BlockQ5_K* a = static_cast<const BlockQ5_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float min_acc = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int scales[8], mins[8];
    UnpackScaleMin(a[i].scales, scales, mins);
    const __m256i qh = Load32(a[i].qh);
    __m256i sum = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i q4 = Load32(a[i].qs + 32 * j);
      const __m256i h0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j)), one);
      const __m256i h1 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j + 1)), one);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q4, low4), _mm256_slli_epi16(h0, 4));
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), low4),
                                         _mm256_slli_epi16(h1, 4));
      const __m256i p0 = _mm256_maddubs_epi16(lo, Load32(b[i].qs + 64 * j));
      const __m256i p1 = _mm256_maddubs_epi16(hi, Load32(b[i].qs + 64 * j + 32));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p0, _mm256_set1_epi16(scales[2 * j])));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p1, _mm256_set1_epi16(scales[2 * j + 1])));
    }
    const float d = b[i].d * HalfToFloat(a[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
    min_acc += b[i].d * HalfToFloat(a[i].dmin) * MinsDot(mins, b[i].bsums);
  }
  return HorizontalSum(acc) - min_acc;
}

float DotQ6_K(int64_t n, const void* w, const void* x) {
  const BlockQ6_K* a = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i low2 = _mm256_set1_epi8(0x03);
  __m256 acc = _mm256_setzero_ps();
  float offset_acc = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const int8_t* sc = a[i].scales;
    // The -32 offset of every level, applied once through the Q8_K group sums.
    int offset = 0;
    for (int g = 0; g < 16; ++g) offset += sc[g] * b[i].bsums[g];
    __m256i sum = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i ql0 = Load32(a[i].ql + 64 * half);
      const __m256i ql1 = Load32(a[i].ql + 64 * half + 32);
      const __m256i qh = Load32(a[i].qh + 32 * half);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, low2), 4)),
          _mm256_or_si256(_mm256_and_si256(ql1, low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), low2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), low2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), low2), 4)),
      };
      for (int k = 0; k < 4; ++k) {
        const int g = 8 * half + 2 * k;
        const __m256i p = _mm256_maddubs_epi16(q[k], Load32(b[i].qs + 128 * half + 32 * k));
        const __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, s));
      }
    }
    const float d = b[i].d * HalfToFloat(a[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
    offset_acc += d * 32.f * offset;
  }
  return HorizontalSum(acc) - offset_acc;
}

}  // namespace kvfuse::kernels::avx2
