#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/quantize.h"
#include "tensor/half.h"
#include "tensor/quant_blocks.h"
#include "util/status.h"

namespace kvfuse::kernels {

using namespace tensor;

int NearestInt(float x) { return static_cast<int>(std::nearbyint(x)); }

namespace {

// ---- 32-element blocks ---------------------------------------------------------------

void QuantizeQ8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK8_0) {
    float amax = 0;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0 ? 127.f / amax : 0.f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(NearestInt(x[j] * id));
  }
}

void DequantizeQ8_0(const BlockQ8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < kQK8_0; ++j) *y++ = d * x[i].qs[j];
  }
}

// The signed value of largest magnitude: its sign makes the scale negative, so the
// extreme value lands exactly on the most negative level.
float SignedMaxAbs(const float* x, int n) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; ++j)
    if (std::fabs(x[j]) > amax) { amax = std::fabs(x[j]); max = x[j]; }
  return max;
}

void QuantizeQ4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK4_0) {
    const float d = SignedMaxAbs(x, kQK4_0) / -8.f;
    const float id = d != 0 ? 1.f / d : 0.f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      const int q1 = std::min(15, static_cast<int>(x[j + kQK4_0 / 2] * id + 8.5f));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void DequantizeQ4_0(const BlockQ4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK4_0) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + kQK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void QuantizeQ5_0(const float* x, BlockQ5_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK5_0) {
    const float d = SignedMaxAbs(x, kQK5_0) / -16.f;
    const float id = d != 0 ? 1.f / d : 0.f;
    y[i].d = Fp32ToFp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int q0 = std::min(31, static_cast<int>(x[j] * id + 16.5f));
      const int q1 = std::min(31, static_cast<int>(x[j + kQK5_0 / 2] * id + 16.5f));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK5_0 / 2);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void DequantizeQ5_0(const BlockQ5_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK5_0) {
    const float d = Fp16ToFp32(x[i].d);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int hi0 = (qh >> j) & 1;
      const int hi1 = (qh >> (j + kQK5_0 / 2)) & 1;
      y[j] = (((x[i].qs[j] & 0x0F) | (hi0 << 4)) - 16) * d;
      y[j + kQK5_0 / 2] = (((x[i].qs[j] >> 4) | (hi1 << 4)) - 16) * d;
    }
  }
}

// ---- K-quants (256-element super-blocks) ----------------------------------------------

// Unpacks the j-th 6-bit scale and min of a Q4_K/Q5_K block.
void ScaleMinK4(int j, const uint8_t* q, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void PackScaleMinK4(const int* scales, const int* mins, uint8_t* q) {
  for (int j = 0; j < 4; ++j) {
    q[j] = static_cast<uint8_t>((scales[j] & 63) | ((scales[j + 4] >> 4) << 6));
    q[j + 4] = static_cast<uint8_t>((mins[j] & 63) | ((mins[j + 4] >> 4) << 6));
    q[j + 8] = static_cast<uint8_t>((scales[j + 4] & 0x0F) | ((mins[j + 4] & 0x0F) << 4));
  }
}

// Shared by Q4_K (n_levels 15) and Q5_K (31): per 32-element sub-block an affine map
// x ≈ d*scale*q - dmin*min with 6-bit scale and min; q is returned in `levels`.
void QuantizeAffineK(const float* x, int n_levels, uint16_t* d_out, uint16_t* dmin_out,
                     uint8_t* packed_scales, uint8_t* levels) {
  float sub_scale[8], sub_min[8];
  float max_scale = 0, max_min = 0;
  for (int s = 0; s < 8; ++s) {
    const float* xs = x + 32 * s;
    float lo = 0, hi = 0;
    for (int j = 0; j < 32; ++j) { lo = std::min(lo, xs[j]); hi = std::max(hi, xs[j]); }
    sub_min[s] = -lo;
    sub_scale[s] = (hi - lo) / n_levels;
    max_scale = std::max(max_scale, sub_scale[s]);
    max_min = std::max(max_min, sub_min[s]);
  }
  const float d = max_scale / 63.f, dmin = max_min / 63.f;
  *d_out = Fp32ToFp16(d);
  *dmin_out = Fp32ToFp16(dmin);
  const float d_rounded = Fp16ToFp32(*d_out), dmin_rounded = Fp16ToFp32(*dmin_out);
  int scales[8], mins[8];
  for (int s = 0; s < 8; ++s) {
    scales[s] = d_rounded > 0 ? std::clamp(NearestInt(sub_scale[s] / d_rounded), 0, 63) : 0;
    mins[s] = dmin_rounded > 0 ? std::clamp(NearestInt(sub_min[s] / dmin_rounded), 0, 63) : 0;
    const float step = d_rounded * scales[s];
    const float offset = dmin_rounded * mins[s];
    for (int j = 0; j < 32; ++j) {
      const int q = step > 0 ? NearestInt((x[32 * s + j] + offset) / step) : 0;
      levels[32 * s + j] = static_cast<uint8_t>(std::clamp(q, 0, n_levels));
    }
  }
  PackScaleMinK4(scales, mins, packed_scales);
}

void QuantizeQ4_K(const float* x, BlockQ4_K* y, int64_t nb) {
  uint8_t levels[kQK_K];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    QuantizeAffineK(x, 15, &y[i].d, &y[i].dmin, y[i].scales, levels);
    for (int j = 0; j < kQK_K; j += 64)
      for (int l = 0; l < 32; ++l)
        y[i].qs[j / 2 + l] = static_cast<uint8_t>(levels[j + l] | (levels[j + 32 + l] << 4));
  }
}

void DequantizeQ4_K(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d), dmin = Fp16ToFp32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, q += 32) {
      int sc, m;
      ScaleMinK4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      ScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0x0F) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void QuantizeQ5_K(const float* x, BlockQ5_K* y, int64_t nb) {
  uint8_t levels[kQK_K];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    QuantizeAffineK(x, 31, &y[i].d, &y[i].dmin, y[i].scales, levels);
    std::memset(y[i].qh, 0, sizeof(y[i].qh));
    for (int j = 0, bit = 0; j < kQK_K; j += 64, bit += 2) {
      for (int l = 0; l < 32; ++l) {
        const int lo = levels[j + l], hi = levels[j + 32 + l];
        y[i].qs[j / 2 + l] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
        y[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << bit) | ((hi >> 4) << (bit + 1)));
      }
    }
  }
}

void DequantizeQ5_K(const BlockQ5_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d), dmin = Fp16ToFp32(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      int sc, m;
      ScaleMinK4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      ScaleMinK4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0x0F) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

// Q6_K: 16 groups of 16 with int8 scales; element e uses scales[e / 16].
void QuantizeQ6_K(const float* x, BlockQ6_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float group_scale[16], max_scale = 0;
    for (int g = 0; g < 16; ++g) {
      float amax = 0;
      for (int j = 0; j < 16; ++j) amax = std::max(amax, std::fabs(x[16 * g + j]));
      group_scale[g] = amax / 31.f;
      max_scale = std::max(max_scale, group_scale[g]);
    }
    const float d = max_scale / 127.f;
    y[i].d = Fp32ToFp16(d);
    const float d_rounded = Fp16ToFp32(y[i].d);
    uint8_t levels[kQK_K];
    for (int g = 0; g < 16; ++g) {
      const int sc = d_rounded > 0 ? std::clamp(NearestInt(group_scale[g] / d_rounded), 0, 127) : 0;
      y[i].scales[g] = static_cast<int8_t>(sc);
      const float step = d_rounded * sc;
      for (int j = 0; j < 16; ++j) {
        const int q = step > 0 ? NearestInt(x[16 * g + j] / step) : 0;
        levels[16 * g + j] = static_cast<uint8_t>(std::clamp(q, -32, 31) + 32);
      }
    }
    for (int n = 0; n < kQK_K; n += 128) {
      uint8_t* ql = y[i].ql + n / 2;
      uint8_t* qh = y[i].qh + n / 4;
      const uint8_t* q = levels + n;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((q[l] & 0x0F) | ((q[l + 64] & 0x0F) << 4));
        ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 0x0F) | ((q[l + 96] & 0x0F) << 4));
        qh[l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) |
                                     ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
      }
    }
  }
}

void DequantizeQ6_K(const BlockQ6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < kQK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

void QuantizeQ8_K(const float* x, BlockQ8_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    const float max = SignedMaxAbs(x, kQK_K);
    if (max == 0) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j) y[i].qs[j] = static_cast<int8_t>(std::min(127, NearestInt(iscale * x[j])));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[i].qs[16 * g + j];
      y[i].bsums[g] = static_cast<int16_t>(sum);
    }
    y[i].d = 1 / iscale;
  }
}

void DequantizeQ8_K(const BlockQ8_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i)
    for (int j = 0; j < kQK_K; ++j) *y++ = x[i].d * x[i].qs[j];
}

}  // namespace

tensor::DType VecDotType(tensor::DType weight_type) {
  switch (weight_type) {
    case DType::kQ4_0: case DType::kQ5_0: case DType::kQ8_0: return DType::kQ8_0;
    case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K: return DType::kQ8_K;
    default: return DType::kF32;
  }
}

void DequantizeRow(DType type, const void* src, float* dst, int64_t n) {
  const int64_t nb = n / Info(type).block_size;
  switch (type) {
    case DType::kF32: std::memcpy(dst, src, n * sizeof(float)); break;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = Fp16ToFp32(static_cast<const uint16_t*>(src)[i]);
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFp32(static_cast<const uint16_t*>(src)[i]);
      break;
    case DType::kQ4_0: DequantizeQ4_0(static_cast<const BlockQ4_0*>(src), dst, nb); break;
    case DType::kQ5_0: DequantizeQ5_0(static_cast<const BlockQ5_0*>(src), dst, nb); break;
    case DType::kQ8_0: DequantizeQ8_0(static_cast<const BlockQ8_0*>(src), dst, nb); break;
    case DType::kQ4_K: DequantizeQ4_K(static_cast<const BlockQ4_K*>(src), dst, nb); break;
    case DType::kQ5_K: DequantizeQ5_K(static_cast<const BlockQ5_K*>(src), dst, nb); break;
    case DType::kQ6_K: DequantizeQ6_K(static_cast<const BlockQ6_K*>(src), dst, nb); break;
    case DType::kQ8_K: DequantizeQ8_K(static_cast<const BlockQ8_K*>(src), dst, nb); break;
  }
}

void QuantizeRow(DType type, const float* src, void* dst, int64_t n) {
  const int64_t nb = n / Info(type).block_size;
  switch (type) {
    case DType::kF32: std::memcpy(dst, src, n * sizeof(float)); break;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = Fp32ToFp16(src[i]);
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = Fp32ToBf16(src[i]);
      break;
    case DType::kQ4_0: QuantizeQ4_0(src, static_cast<BlockQ4_0*>(dst), nb); break;
    case DType::kQ5_0: QuantizeQ5_0(src, static_cast<BlockQ5_0*>(dst), nb); break;
    case DType::kQ8_0: QuantizeQ8_0(src, static_cast<BlockQ8_0*>(dst), nb); break;
    case DType::kQ4_K: QuantizeQ4_K(src, static_cast<BlockQ4_K*>(dst), nb); break;
    case DType::kQ5_K: QuantizeQ5_K(src, static_cast<BlockQ5_K*>(dst), nb); break;
    case DType::kQ6_K: QuantizeQ6_K(src, static_cast<BlockQ6_K*>(dst), nb); break;
    case DType::kQ8_K: QuantizeQ8_K(src, static_cast<BlockQ8_K*>(dst), nb); break;
  }
}

}  // namespace kvfuse::kernels
