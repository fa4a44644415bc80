// Scalar dot products: integer arithmetic per block, as ggml's reference does.
#include <cstring>

#include "kernels/quantize.h"
#include "kernels/ref/ref_kernels.h"
#include "tensor/half.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::ref {

using namespace tensor;

float DotF32(int64_t n, const void* w, const void* x) {
  const float* a = static_cast<const float*>(w);
  const float* b = static_cast<const float*>(x);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(sum);
}

float DotF16(int64_t n, const void* w, const void* x) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(Fp16ToFp32(a[i])) * b[i];
  return static_cast<float>(sum);
}

float DotBF16(int64_t n, const void* w, const void* x) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(Bf16ToFp32(a[i])) * b[i];
  return static_cast<float>(sum);
}

float DotQ8_0(int64_t n, const void* w, const void* x) {
  const BlockQ8_0* a = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    int s = 0;
    for (int j = 0; j < kQK8_0; ++j) s += a[i].qs[j] * b[i].qs[j];
    sum += s * (Fp16ToFp32(a[i].d) * Fp16ToFp32(b[i].d));
  }
  return sum;
}

float DotQ4_0(int64_t n, const void* w, const void* x) {
  const BlockQ4_0* a = static_cast<const BlockQ4_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    int s = 0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      s += ((a[i].qs[j] & 0x0F) - 8) * b[i].qs[j];
      s += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + kQK4_0 / 2];
    }
    sum += s * (Fp16ToFp32(a[i].d) * Fp16ToFp32(b[i].d));
  }
  return sum;
}

float DotQ5_0(int64_t n, const void* w, const void* x) {
  const BlockQ5_0* a = static_cast<const BlockQ5_0*>(w);
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(x);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    uint32_t qh;
    std::memcpy(&qh, a[i].qh, 4);
    int s = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int x0 = ((a[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16;
      const int x1 = ((a[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      s += x0 * b[i].qs[j] + x1 * b[i].qs[j + 16];
    }
    sum += s * (Fp16ToFp32(a[i].d) * Fp16ToFp32(b[i].d));
  }
  return sum;
}

// Q4_K/Q5_K: per block, sum_s scale_s * <q_s, y_s> and sum_s min_s * (sum of y over s),
// the latter from the Q8_K group sums.
namespace {

void UnpackScaleMin(const uint8_t* q, int* scales, int* mins) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = q[j] & 63;
      mins[j] = q[j + 4] & 63;
    } else {
      scales[j] = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
      mins[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
  }
}

}  // namespace

float DotQ4_K(int64_t n, const void* w, const void* x) {
  const BlockQ4_K* a = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int scales[8], mins[8];
    UnpackScaleMin(a[i].scales, scales, mins);
    int32_t dot = 0, min_dot = 0;
    for (int s = 0; s < 8; ++s) {
      const uint8_t* q = a[i].qs + 32 * (s / 2);
      const int8_t* y = b[i].qs + 32 * s;
      int32_t sub = 0;
      for (int l = 0; l < 32; ++l) sub += ((s % 2) ? (q[l] >> 4) : (q[l] & 0x0F)) * y[l];
      dot += scales[s] * sub;
      min_dot += mins[s] * (b[i].bsums[2 * s] + b[i].bsums[2 * s + 1]);
    }
    sum += b[i].d * (Fp16ToFp32(a[i].d) * dot - Fp16ToFp32(a[i].dmin) * min_dot);
  }
  return sum;
}

float DotQ5_K(int64_t n, const void* w, const void* x) {
  const BlockQ5_K* a = static_cast<const BlockQ5_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int scales[8], mins[8];
    UnpackScaleMin(a[i].scales, scales, mins);
    int32_t dot = 0, min_dot = 0;
    for (int s = 0; s < 8; ++s) {
      const uint8_t* q = a[i].qs + 32 * (s / 2);
      const int8_t* y = b[i].qs + 32 * s;
      int32_t sub = 0;
      for (int l = 0; l < 32; ++l) {
        const int lo = (s % 2) ? (q[l] >> 4) : (q[l] & 0x0F);
        const int hi = (a[i].qh[l] >> s) & 1;
        sub += (lo | (hi << 4)) * y[l];
      }
      dot += scales[s] * sub;
      min_dot += mins[s] * (b[i].bsums[2 * s] + b[i].bsums[2 * s + 1]);
    }
    sum += b[i].d * (Fp16ToFp32(a[i].d) * dot - Fp16ToFp32(a[i].dmin) * min_dot);
  }
  return sum;
}

float DotQ6_K(int64_t n, const void* w, const void* x) {
  const BlockQ6_K* a = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* b = static_cast<const BlockQ8_K*>(x);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int8_t q[kQK_K];
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = a[i].ql + 64 * half;
      const uint8_t* qh = a[i].qh + 32 * half;
      int8_t* out = q + 128 * half;
      for (int l = 0; l < 32; ++l) {
        out[l] = static_cast<int8_t>(((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32);
        out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
        out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    int32_t dot = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t sub = 0;
      for (int l = 0; l < 16; ++l) sub += q[16 * g + l] * b[i].qs[16 * g + l];
      dot += a[i].scales[g] * sub;
    }
    sum += Fp16ToFp32(a[i].d) * b[i].d * dot;
  }
  return sum;
}

}  // namespace kvfuse::kernels::ref
