#include <algorithm>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx2/avx2_kernels.h"
#include "tensor/half.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx2 {

using namespace tensor;

namespace {

inline __m256 LoadBF16(const uint16_t* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

// Four independent accumulators hide the FMA latency.
template <typename LoadA, typename ScalarA>
float DotWith(int64_t n, LoadA load_a, const float* b, ScalarA scalar_a) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(load_a(i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(load_a(i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(load_a(i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(load_a(i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load_a(i), _mm256_loadu_ps(b + i), acc0);
  float sum = HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += scalar_a(i) * b[i];
  return sum;
}

}  // namespace

float DotF32(int64_t n, const void* w, const void* x) {
  const float* a = static_cast<const float*>(w);
  return DotWith(n, [a](int64_t i) { return _mm256_loadu_ps(a + i); },
                 static_cast<const float*>(x), [a](int64_t i) { return a[i]; });
}

float DotF16(int64_t n, const void* w, const void* x) {
  return DotF32F16(n, static_cast<const float*>(x), static_cast<const uint16_t*>(w));
}

float DotF32F16(int64_t n, const float* a, const uint16_t* b) {
  return DotWith(n, [b](int64_t i) { return LoadF16(b + i); }, a,
                 [b](int64_t i) { return Fp16ToFp32(b[i]); });
}

float DotBF16(int64_t n, const void* w, const void* x) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  return DotWith(n, [a](int64_t i) { return LoadBF16(a + i); }, static_cast<const float*>(x),
                 [a](int64_t i) { return Bf16ToFp32(a[i]); });
}

void F32ToF16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) y[i] = Fp32ToFp16(x[i]);
}

void ExpF32(int64_t n, const float* x, float* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, Exp8(_mm256_loadu_ps(x + i)));
  if (i < n) {  // the tail through one padded vector
    float in[8] = {0}, out[8];
    std::copy(x + i, x + n, in);
    _mm256_storeu_ps(out, Exp8(_mm256_loadu_ps(in)));
    std::copy(out, out + (n - i), y + i);
  }
}

void GatherF16Rows(int64_t dim, const uint16_t* base, size_t stride, const int32_t* slots, int n, float* out) {
  for (int j = 0; j < n; ++j) {
    const uint16_t* row = base + slots[j] * stride;
    float* dst = out + j * dim;
    int64_t i = 0;
    for (; i + 8 <= dim; i += 8) _mm256_storeu_ps(dst + i, LoadF16(row + i));
    for (; i < dim; ++i) dst[i] = Fp16ToFp32(row[i]);
  }
}

void QuantizeQ8_0(const float* x, void* out, int64_t n) {
  BlockQ8_0* y = static_cast<BlockQ8_0*>(out);
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n / kQK8_0; ++i, x += kQK8_0) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float max_scalar = _mm_cvtss_f32(m);
    y[i].d = Fp32ToFp16(max_scalar / 127.f);
    const __m256 id = _mm256_set1_ps(max_scalar != 0 ? 127.f / max_scalar : 0.f);
    __m256i q[4];
    for (int k = 0; k < 4; ++k)
      q[k] = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    // packs interleave the two 128-bit lanes; the permute restores element order.
    const __m256i p16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    const __m256i ordered = _mm256_permutevar8x32_epi32(p16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), ordered);
  }
}

}  // namespace kvfuse::kernels::avx2
