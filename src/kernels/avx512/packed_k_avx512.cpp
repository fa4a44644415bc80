// Q4_K and Q6_K products of the avx512 table, over weights packed 16 rows at a time (as
// packed_q32_avx512.cpp does for Q8_0: each lane of a vpdpbusd is one row, nothing is reduced
// across lanes, and the weight levels are decoded once, at load).
//
// Per (row, Q8_K activation row) and per 256-element block, in integers (exact):
//   Q4_K: A = sum_s scale_s * <q_s, x_s>  and  B = sum_s min_s * sum(x_s)   (8 groups of 32)
//   Q6_K: A = sum_s scale_s * <q_s - 32, x_s>                              (16 groups of 16)
// then, block by block in order, acc = fma(float(A), d * x_d, acc) and for Q4_K
// acc = fma(-float(B), dmin * x_d, acc). The single-row dots and the unpacked GEMMs below
// compute exactly that, so every path of the table agrees bit for bit.
//
// Packed layouts, per group of 16 rows and block (r: row in the group, t < 4):
//   Q4_K (2560 bytes): float d[16], dmin[16]; uint8 scale[8][16]; int16 min_pair[4][16][2]
//     (mins of groups 2i and 2i+1); uint8 q[4][8][16][4], byte (i, s, r, t) holding level
//     4s + t of group 2i in its low nibble and of group 2i + 1 in its high nibble.
//   Q6_K (4416 bytes): float d[16]; int8 scale[16][16]; uint8 q[16][4][16][4], byte
//     (g, s, r, t) the level (0..63, stored +32) of element 16g + 4s + t.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/packed_common.h"
#include "kernels/kernel_table.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx512 {

using tensor::BlockQ4_K;
using tensor::BlockQ6_K;
using tensor::BlockQ8_K;
using tensor::kQK_K;

namespace {

constexpr size_t kQ4KBytes = 2560, kQ6KBytes = 4416;
constexpr size_t kQ4KScales = 128, kQ4KMins = 256, kQ4KLevels = 512;
constexpr size_t kQ6KScales = 64, kQ6KLevels = 320;

// The 256 levels (0..63) of a Q6_K block, in element order.
void Q6KLevels(const BlockQ6_K& b, uint8_t* q) {
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    uint8_t* out = q + 128 * half;
    for (int l = 0; l < 32; ++l) {
      out[l] = static_cast<uint8_t>((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4));
      out[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4));
      out[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      out[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

template <int kCols>
void GroupTileQ4K(int64_t nb, const uint8_t* group, const uint8_t* x, size_t x_row_bytes, float* y, size_t y_stride,
                  int n_rows) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 acc[kCols];
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kQ4KBytes;
    if constexpr (kCols == 1) PrefetchAhead(blk, kQ4KBytes);
    __m512i a[kCols], m[kCols];
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) a[c] = m[c] = _mm512_setzero_si512();
    for (int i = 0; i < 4; ++i) {
      __m512i lo[8], hi[8];
      KVFUSE_UNROLL for (int s = 0; s < 8; ++s) {
        const __m512i v = _mm512_load_si512(blk + kQ4KLevels + (i * 8 + s) * 64);
        lo[s] = _mm512_and_si512(v, low4);
        hi[s] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      }
      const auto* scales = reinterpret_cast<const __m128i*>(blk + kQ4KScales + 32 * i);
      const __m512i scale_lo = _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_load_si128(scales));
      const __m512i scale_hi = _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_load_si128(scales + 1));
      const __m512i mins = _mm512_load_si512(blk + kQ4KMins + 64 * i);
      KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
        const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x + c * x_row_bytes)[b];
        __m512i sum_lo = _mm512_setzero_si512(), sum_hi = _mm512_setzero_si512();
        KVFUSE_UNROLL for (int s = 0; s < 8; ++s) {
          sum_lo = _mm512_dpbusd_epi32(sum_lo, lo[s], Broadcast4(xb.qs + 64 * i + 4 * s));
          sum_hi = _mm512_dpbusd_epi32(sum_hi, hi[s], Broadcast4(xb.qs + 64 * i + 32 + 4 * s));
        }
        a[c] = _mm512_add_epi32(a[c], _mm512_add_epi32(_mm512_mullo_epi32(sum_lo, scale_lo),
                                                       _mm512_mullo_epi32(sum_hi, scale_hi)));
        const int16_t sums[2] = {static_cast<int16_t>(xb.bsums[4 * i] + xb.bsums[4 * i + 1]),
                                 static_cast<int16_t>(xb.bsums[4 * i + 2] + xb.bsums[4 * i + 3])};
        int32_t pair;
        std::memcpy(&pair, sums, 4);
        m[c] = _mm512_dpwssd_epi32(m[c], mins, _mm512_set1_epi32(pair));
      }
    }
    const __m512 d = _mm512_load_ps(reinterpret_cast<const float*>(blk));
    const __m512 dmin = _mm512_load_ps(reinterpret_cast<const float*>(blk + 64));
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      const __m512 xd = _mm512_set1_ps(reinterpret_cast<const BlockQ8_K*>(x + c * x_row_bytes)[b].d);
      acc[c] = _mm512_fmadd_ps(ToFloat(a[c]), _mm512_mul_ps(d, xd), acc[c]);
      acc[c] = _mm512_fnmadd_ps(ToFloat(m[c]), _mm512_mul_ps(dmin, xd), acc[c]);
    }
  }
  StoreRows(acc, kCols, y, y_stride, n_rows);
}

template <int kCols>
void GroupTileQ6K(int64_t nb, const uint8_t* group, const uint8_t* x, size_t x_row_bytes, float* y, size_t y_stride,
                  int n_rows) {
  __m512 acc[kCols];
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kQ6KBytes;
    if constexpr (kCols == 1) PrefetchAhead(blk, kQ6KBytes);
    __m512i a[kCols];
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) a[c] = _mm512_setzero_si512();
    for (int g = 0; g < 16; ++g) {
      __m512i w[4];
      KVFUSE_UNROLL for (int s = 0; s < 4; ++s) w[s] = _mm512_load_si512(blk + kQ6KLevels + (g * 4 + s) * 64);
      const __m512i scale =
          _mm512_maskz_cvtepi8_epi32(0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(blk + kQ6KScales + 16 * g)));
      KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
        const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x + c * x_row_bytes)[b];
        __m512i sum = _mm512_set1_epi32(-32 * xb.bsums[g]);  // cancels the levels' +32
        KVFUSE_UNROLL for (int s = 0; s < 4; ++s) sum = _mm512_dpbusd_epi32(sum, w[s], Broadcast4(xb.qs + 16 * g + 4 * s));
        a[c] = _mm512_add_epi32(a[c], _mm512_mullo_epi32(sum, scale));
      }
    }
    const __m512 d = _mm512_load_ps(reinterpret_cast<const float*>(blk));
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      const __m512 xd = _mm512_set1_ps(reinterpret_cast<const BlockQ8_K*>(x + c * x_row_bytes)[b].d);
      acc[c] = _mm512_fmadd_ps(ToFloat(a[c]), _mm512_mul_ps(d, xd), acc[c]);
    }
  }
  StoreRows(acc, kCols, y, y_stride, n_rows);
}

template <size_t kBlockBytes, void (*kTile4)(int64_t, const uint8_t*, const uint8_t*, size_t, float*, size_t, int),
          void (*kTile1)(int64_t, const uint8_t*, const uint8_t*, size_t, float*, size_t, int)>
void PackedGemm(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  const int64_t nb = n / kQK_K;
  for (int64_t r = row_begin; r < row_end; r += kGroup) {
    const uint8_t* group = packed + (r / kGroup) * nb * kBlockBytes;
    const int rows = static_cast<int>(std::min<int64_t>(kGroup, row_end - r));
    int64_t c = 0;
    for (; c + 4 <= n_x_rows; c += 4) kTile4(nb, group, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride, rows);
    for (; c < n_x_rows; ++c) kTile1(nb, group, x + c * x_row_bytes, x_row_bytes, y + c * y_stride + r, y_stride, rows);
  }
}

}  // namespace

size_t PackedBytesQ4_K(int64_t n_cols, int64_t n_rows) {
  return static_cast<size_t>((n_rows + kGroup - 1) / kGroup) * (n_cols / kQK_K) * kQ4KBytes;
}
size_t PackedBytesQ6_K(int64_t n_cols, int64_t n_rows) {
  return static_cast<size_t>((n_rows + kGroup - 1) / kGroup) * (n_cols / kQK_K) * kQ6KBytes;
}

void PackQ4_K(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out) {
  const int64_t nb = n_cols / kQK_K;
  std::memset(out, 0, PackedBytesQ4_K(n_cols, n_rows));  // padding rows: all zero
  for (int64_t row = 0; row < n_rows; ++row)
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ4_K& src = reinterpret_cast<const BlockQ4_K*>(rows + row * row_bytes)[b];
      uint8_t* blk = out + ((row / kGroup) * nb + b) * kQ4KBytes;
      const int r = static_cast<int>(row % kGroup);
      reinterpret_cast<float*>(blk)[r] = avx2::HalfToFloat(src.d);
      reinterpret_cast<float*>(blk + 64)[r] = avx2::HalfToFloat(src.dmin);
      int scales[8], mins[8];
      avx2::UnpackScaleMin(src.scales, scales, mins);
      for (int s = 0; s < 8; ++s) {
        blk[kQ4KScales + 16 * s + r] = static_cast<uint8_t>(scales[s]);
        reinterpret_cast<int16_t*>(blk + kQ4KMins + 64 * (s / 2))[2 * r + s % 2] = static_cast<int16_t>(mins[s]);
      }
      for (int i = 0; i < 4; ++i)  // src.qs[32 i + l]: level l of group 2i (low), 2i + 1 (high)
        for (int l = 0; l < 32; ++l) blk[kQ4KLevels + (i * 8 + l / 4) * 64 + 4 * r + l % 4] = src.qs[32 * i + l];
    }
}

void PackQ6_K(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out) {
  const int64_t nb = n_cols / kQK_K;
  std::memset(out, 0, PackedBytesQ6_K(n_cols, n_rows));
  uint8_t levels[kQK_K];
  for (int64_t row = 0; row < n_rows; ++row)
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_K& src = reinterpret_cast<const BlockQ6_K*>(rows + row * row_bytes)[b];
      uint8_t* blk = out + ((row / kGroup) * nb + b) * kQ6KBytes;
      const int r = static_cast<int>(row % kGroup);
      reinterpret_cast<float*>(blk)[r] = avx2::HalfToFloat(src.d);
      for (int g = 0; g < 16; ++g) blk[kQ6KScales + 16 * g + r] = static_cast<uint8_t>(src.scales[g]);
      Q6KLevels(src, levels);
      for (int e = 0; e < kQK_K; ++e) blk[kQ6KLevels + (e / 4) * 64 + 4 * r + e % 4] = levels[e];
    }
}

void PackedGemmQ4_K(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  PackedGemm<kQ4KBytes, GroupTileQ4K<4>, GroupTileQ4K<1>>(n, packed, row_begin, row_end, x, x_row_bytes, n_x_rows, y,
                                                          y_stride);
}
void PackedGemmQ6_K(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  PackedGemm<kQ6KBytes, GroupTileQ6K<4>, GroupTileQ6K<1>>(n, packed, row_begin, row_end, x, x_row_bytes, n_x_rows, y,
                                                          y_stride);
}

float DotQ4_K(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ4_K*>(w);
  const auto* xb = static_cast<const BlockQ8_K*>(x);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int scales[8], mins[8];
    avx2::UnpackScaleMin(wb[b].scales, scales, mins);
    int32_t a = 0, m = 0;
    for (int s = 0; s < 8; ++s) {
      const uint8_t* q = wb[b].qs + 32 * (s / 2);
      int32_t sum = 0;
      for (int l = 0; l < 32; ++l) sum += (s % 2 ? q[l] >> 4 : q[l] & 0x0F) * xb[b].qs[32 * s + l];
      a += scales[s] * sum;
      m += mins[s] * (xb[b].bsums[2 * s] + xb[b].bsums[2 * s + 1]);
    }
    acc = std::fma(static_cast<float>(a), avx2::HalfToFloat(wb[b].d) * xb[b].d, acc);
    acc = std::fma(-static_cast<float>(m), avx2::HalfToFloat(wb[b].dmin) * xb[b].d, acc);
  }
  return acc;
}

float DotQ6_K(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const BlockQ6_K*>(w);
  const auto* xb = static_cast<const BlockQ8_K*>(x);
  float acc = 0.0f;
  uint8_t levels[kQK_K];
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    Q6KLevels(wb[b], levels);
    int32_t a = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t sum = 0;
      for (int l = 0; l < 16; ++l) sum += (levels[16 * g + l] - 32) * xb[b].qs[16 * g + l];
      a += wb[b].scales[g] * sum;
    }
    acc = std::fma(static_cast<float>(a), avx2::HalfToFloat(wb[b].d) * xb[b].d, acc);
  }
  return acc;
}

void GemmQ4_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  GemmByDots<DotQ4_K>(n, w, w_row_bytes, n_w_rows, x, x_row_bytes, n_x_rows, y, y_stride);
}
void GemmQ6_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  GemmByDots<DotQ6_K>(n, w, w_row_bytes, n_w_rows, x, x_row_bytes, n_x_rows, y, y_stride);
}

}  // namespace kvfuse::kernels::avx512
