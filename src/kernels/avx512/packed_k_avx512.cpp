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
//   Q4_K (2368 bytes, the file's 2304 and 4 bits more for each scale and min): f16 d[16],
//     dmin[16]; uint8 scale[8][16]; uint8 min_pair[4][16][2] (mins of groups 2i and 2i+1);
//     uint8 q[4][8][16][4], byte (i, s, r, t) holding level
//     4s + t of group 2i in its low nibble and of group 2i + 1 in its high nibble.
//   Q6_K (3392 bytes, the file's 3360 and padding to 64): the levels (0..63, stored +32) as
//     planes, with L(j) the 64 bytes (r, t) of element 4j + t of each row: uint8 low[32][16][4]
//     holding the low 4 bits of L(k) in its low nibble and of L(k + 32) in its high one;
//     uint8 high[16][16][4] holding the top 2 bits of L(k), L(k + 16), L(k + 32), L(k + 48)
//     at bits 0-1, 2-3, 4-5, 6-7; int8 scale[16][16]; f16 d[16]. A product unpacks a group's
//     blocks once into the tile layout, float d[16]; int8 scale[16][16]; uint8 L[64][16][4],
//     so the packed copy is no larger than the file's rows (1 byte a level was 1.31x).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

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

constexpr size_t kQ4KBytes = 2368;
constexpr size_t kQ4KScales = 64, kQ4KMins = 192, kQ4KLevels = 320;
// Q6_K as stored (the planes) and as the tiles read it (one byte a level).
constexpr size_t kQ6KBytes = 3392, kQ6KHigh = 2048, kQ6KStoredScales = 3072, kQ6KHalves = 3328;
constexpr size_t kQ6KTileBytes = 4416, kQ6KScales = 64, kQ6KLevels = 320;

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

template <int kCols>
void GroupTileQ6K(int64_t nb, const uint8_t* group, const uint8_t* x, size_t x_row_bytes, float* y, size_t y_stride,
                  int n_rows) {
  __m512 acc[kCols];
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kQ6KTileBytes;
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

// L(j) of a stored Q6_K block: its low bits from low[j % 32], its top two from high[j % 16]
// (whose bytes hold them at bits 2q, 2q + 1, q = j / 16).
template <int j>
__m512i Q6KLevelVector(const uint8_t* blk, const __m512i (&high)[16]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), v = _mm512_load_si512(blk + 64 * (j % 32));
  const __m512i lo = j < 32 ? _mm512_and_si512(v, low4) : _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
  const __m512i h = high[j % 16];
  const __m512i at45 = j < 16   ? _mm512_slli_epi16(h, 4)
                       : j < 32 ? _mm512_slli_epi16(h, 2)
                       : j < 48 ? h
                                : _mm512_srli_epi16(h, 2);
  return _mm512_ternarylogic_epi32(lo, at45, _mm512_set1_epi8(0x30), 0xF8);  // lo | (at45 & 0x30)
}

// Group g's part of GroupTileQ6K's sum for one activation row, from a stored block.
template <int g>
__m512i Q6KStoredGroup(const uint8_t* blk, const __m512i (&high)[16], const BlockQ8_K& xb) {
  __m512i sum = _mm512_set1_epi32(-32 * xb.bsums[g]);  // cancels the levels' +32
  sum = _mm512_dpbusd_epi32(sum, Q6KLevelVector<4 * g>(blk, high), Broadcast4(xb.qs + 16 * g));
  sum = _mm512_dpbusd_epi32(sum, Q6KLevelVector<4 * g + 1>(blk, high), Broadcast4(xb.qs + 16 * g + 4));
  sum = _mm512_dpbusd_epi32(sum, Q6KLevelVector<4 * g + 2>(blk, high), Broadcast4(xb.qs + 16 * g + 8));
  sum = _mm512_dpbusd_epi32(sum, Q6KLevelVector<4 * g + 3>(blk, high), Broadcast4(xb.qs + 16 * g + 12));
  const __m512i scale = _mm512_maskz_cvtepi8_epi32(
      0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(blk + kQ6KStoredScales + 16 * g)));
  return _mm512_mullo_epi32(sum, scale);
}

template <int... g>
__m512i Q6KStoredBlock(const uint8_t* blk, const BlockQ8_K& xb, std::integer_sequence<int, g...>) {
  __m512i high[16];
  KVFUSE_UNROLL for (int k = 0; k < 16; ++k) high[k] = _mm512_load_si512(blk + kQ6KHigh + 64 * k);
  __m512i a = _mm512_setzero_si512();
  ((a = _mm512_add_epi32(a, Q6KStoredGroup<g>(blk, high, xb))), ...);
  return a;
}

// GroupTileQ6K<1> over stored blocks, levels unpacked in registers (one activation row reads
// each level once: unpacking into the tiles' layout first cost a decode a fifth of its speed).
void GroupTileQ6KStored(int64_t nb, const uint8_t* group, const uint8_t* x, float* y, int n_rows) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = group + b * kQ6KBytes;
    PrefetchAhead(blk, kQ6KBytes);
    const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x)[b];
    const __m512i a = Q6KStoredBlock(blk, xb, std::make_integer_sequence<int, 16>());
    const __m512 d = HalvesToFloat(reinterpret_cast<const uint16_t*>(blk + kQ6KHalves));
    acc = _mm512_fmadd_ps(ToFloat(a), _mm512_mul_ps(d, _mm512_set1_ps(xb.d)), acc);
  }
  StoreRows(&acc, 1, y, 0, n_rows);
}

// A group's nb stored Q6_K blocks in the tiles' layout (kQ6KTileBytes each).
void UnpackQ6KGroup(int64_t nb, const uint8_t* stored, uint8_t* tiles) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* in = stored + b * kQ6KBytes;
    uint8_t* out = tiles + b * kQ6KTileBytes;
    PrefetchAhead(in, kQ6KBytes);
    __m512i high[16];
    KVFUSE_UNROLL for (int k = 0; k < 16; ++k) high[k] = _mm512_load_si512(in + kQ6KHigh + 64 * k);
    KVFUSE_UNROLL for (int k = 0; k < 32; ++k) {
      const __m512i v = _mm512_load_si512(in + 64 * k);
      const __m512i lo[2] = {_mm512_and_si512(v, low4), _mm512_and_si512(_mm512_srli_epi16(v, 4), low4)};
      KVFUSE_UNROLL for (int half = 0; half < 2; ++half) {
        const int j = k + 32 * half, q = j / 16;  // L(j)'s top bits: bits 2q, 2q + 1 of high[j % 16]
        const __m512i h = high[j % 16];
        const __m512i at45 = q == 0   ? _mm512_slli_epi16(h, 4)
                             : q == 1 ? _mm512_slli_epi16(h, 2)
                             : q == 2 ? h
                                      : _mm512_srli_epi16(h, 2);
        // lo | (at45 & 0x30)
        _mm512_store_si512(out + kQ6KLevels + 64 * j, _mm512_ternarylogic_epi32(lo[half], at45, bits45, 0xF8));
      }
    }
    KVFUSE_UNROLL for (int i = 0; i < 4; ++i)
      _mm512_store_si512(out + kQ6KScales + 64 * i, _mm512_load_si512(in + kQ6KStoredScales + 64 * i));
    _mm512_store_ps(out, HalvesToFloat(reinterpret_cast<const uint16_t*>(in + kQ6KHalves)));
  }
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

void PackQ6_K(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out) {
  const int64_t nb = n_cols / kQK_K;
  std::memset(out, 0, PackedBytesQ6_K(n_cols, n_rows));
  uint8_t levels[kQK_K];
  for (int64_t row = 0; row < n_rows; ++row)
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_K& src = reinterpret_cast<const BlockQ6_K*>(rows + row * row_bytes)[b];
      uint8_t* blk = out + ((row / kGroup) * nb + b) * kQ6KBytes;
      const int r = static_cast<int>(row % kGroup);
      std::memcpy(blk + kQ6KHalves + 2 * r, &src.d, 2);
      for (int g = 0; g < 16; ++g) blk[kQ6KStoredScales + 16 * g + r] = static_cast<uint8_t>(src.scales[g]);
      Q6KLevels(src, levels);
      for (int e = 0; e < kQK_K; ++e) {  // element e is byte 4r + e % 4 of L(e / 4)
        const int j = e / 4, at = 4 * r + e % 4;
        blk[64 * (j % 32) + at] |= static_cast<uint8_t>((levels[e] & 0x0F) << (4 * (j / 32)));
        blk[kQ6KHigh + 64 * (j % 16) + at] |= static_cast<uint8_t>((levels[e] >> 4) << (2 * (j / 16)));
      }
    }
}

void PackedGemmQ4_K(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  PackedGemm<kQ4KBytes, GroupTileQ4K<4>, GroupTileQ4K<1>>(n, packed, row_begin, row_end, x, x_row_bytes, n_x_rows, y,
                                                          y_stride);
}
void PackedGemmQ6_K(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  const int64_t nb = n / kQK_K;
  struct alignas(64) Line {  // the tiles' aligned loads
    uint8_t bytes[64];
  };
  thread_local std::vector<Line> tiles;
  tiles.resize(static_cast<size_t>(nb) * kQ6KTileBytes / sizeof(Line));
  auto* unpacked = reinterpret_cast<uint8_t*>(tiles.data());
  for (int64_t r = row_begin; r < row_end; r += kGroup) {
    const uint8_t* group = packed + (r / kGroup) * nb * kQ6KBytes;
    const int rows = static_cast<int>(std::min<int64_t>(kGroup, row_end - r));
    if (n_x_rows < 4) {  // no tile of 4 rows to share an unpacking
      for (int64_t c = 0; c < n_x_rows; ++c) GroupTileQ6KStored(nb, group, x + c * x_row_bytes, y + c * y_stride + r, rows);
      continue;
    }
    UnpackQ6KGroup(nb, group, unpacked);
    PackedGemm<kQ6KTileBytes, GroupTileQ6K<4>, GroupTileQ6K<1>>(n, unpacked, 0, rows,
                                                                x, x_row_bytes, n_x_rows, y + r, y_stride);
  }
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
