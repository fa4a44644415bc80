// Q4_K products of the avx512 table, over weights packed 16 rows at a time (as
// packed_q32_avx512.cpp does for Q8_0: each lane of a vpdpbusd is one row, nothing is reduced
// across lanes, and the weight levels are decoded once, at load). Q6_K: packed_q6k_avx512.cpp.
//
// Per (row, Q8_K activation row) and per 256-element block, in integers (exact):
//   A = sum_s scale_s * <q_s, x_s>  and  B = sum_s min_s * sum(x_s)   (8 groups of 32)
// then, block by block in order, acc = fma(float(A), d * x_d, acc) and
// acc = fma(-float(B), dmin * x_d, acc). The single-row dot and the unpacked GEMM below
// compute exactly that, so every path of the table agrees bit for bit.
//
// Packed layout, per group of 16 rows and block (r: row in the group, t < 4), 2368 bytes (the
// file's 2304, and 2 bits more for each scale and min): f16 d[16], dmin[16]; uint8
// scale[8][16]; uint8 min_pair[4][16][2] (mins of groups 2i and 2i+1); uint8 q[4][8][16][4],
// byte (i, s, r, t) holding level 4s + t of group 2i in its low nibble and of group 2i + 1 in
// its high nibble.
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
using tensor::BlockQ8_K;
using tensor::kQK_K;

namespace {

constexpr size_t kQ4KBytes = 2368;
constexpr size_t kQ4KScales = 64, kQ4KMins = 192, kQ4KLevels = 320;

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
      const __m512i mins =
          _mm512_cvtepu8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(blk + kQ4KMins + 32 * i)));
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
    const __m512 d = HalvesToFloat(reinterpret_cast<const uint16_t*>(blk));
    const __m512 dmin = HalvesToFloat(reinterpret_cast<const uint16_t*>(blk + 32));
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      const __m512 xd = _mm512_set1_ps(reinterpret_cast<const BlockQ8_K*>(x + c * x_row_bytes)[b].d);
      acc[c] = _mm512_fmadd_ps(ToFloat(a[c]), _mm512_mul_ps(d, xd), acc[c]);
      acc[c] = _mm512_fnmadd_ps(ToFloat(m[c]), _mm512_mul_ps(dmin, xd), acc[c]);
    }
  }
  StoreRows(acc, kCols, y, y_stride, n_rows);
}

}  // namespace

size_t PackedBytesQ4_K(int64_t n_cols, int64_t n_rows) {
  return static_cast<size_t>((n_rows + kGroup - 1) / kGroup) * (n_cols / kQK_K) * kQ4KBytes;
}
void PackQ4_K(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out) {
  const int64_t nb = n_cols / kQK_K;
  std::memset(out, 0, PackedBytesQ4_K(n_cols, n_rows));  // padding rows: all zero
  for (int64_t row = 0; row < n_rows; ++row)
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ4_K& src = reinterpret_cast<const BlockQ4_K*>(rows + row * row_bytes)[b];
      uint8_t* blk = out + ((row / kGroup) * nb + b) * kQ4KBytes;
      const int r = static_cast<int>(row % kGroup);
      std::memcpy(blk + 2 * r, &src.d, 2);
      std::memcpy(blk + 32 + 2 * r, &src.dmin, 2);
      int scales[8], mins[8];
      avx2::UnpackScaleMin(src.scales, scales, mins);
      for (int s = 0; s < 8; ++s) {
        blk[kQ4KScales + 16 * s + r] = static_cast<uint8_t>(scales[s]);
        blk[kQ4KMins + 32 * (s / 2) + 2 * r + s % 2] = static_cast<uint8_t>(mins[s]);
      }
      for (int i = 0; i < 4; ++i)  // src.qs[32 i + l]: level l of group 2i (low), 2i + 1 (high)
        for (int l = 0; l < 32; ++l) blk[kQ4KLevels + (i * 8 + l / 4) * 64 + 4 * r + l % 4] = src.qs[32 * i + l];
    }
}

void PackedGemmQ4_K(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  PackedKQuantGemm<kQ4KBytes, GroupTileQ4K<4>, GroupTileQ4K<1>>(n, packed, row_begin, row_end, x, x_row_bytes, n_x_rows, y,
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

void GemmQ4_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  GemmByDots<DotQ4_K>(n, w, w_row_bytes, n_w_rows, x, x_row_bytes, n_x_rows, y, y_stride);
}
}  // namespace kvfuse::kernels::avx512
