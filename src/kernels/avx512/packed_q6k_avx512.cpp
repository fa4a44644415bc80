// Q6_K products of the avx512 table, over weights packed 16 rows at a time (as
// packed_k_avx512.cpp does for Q4_K: each lane of a vpdpbusd is one row, nothing is reduced
// across lanes).
//
// Per (row, Q8_K activation row) and per 256-element block, in integers (exact):
//   A = sum_s scale_s * <q_s - 32, x_s>   (16 groups of 16)
// then, block by block in order, acc = fma(float(A), d * x_d, acc). The single-row dot and
// the unpacked GEMM below compute exactly that, so every path of the table agrees bit for bit.
//
// Packed layout, per group of 16 rows and block (r: row in the group, t < 4), 3392 bytes (the
// file's 3360 and padding to 64): the levels (0..63, stored +32) as planes, with L(j) the 64
// bytes (r, t) of element 4j + t of each row: uint8 low[32][16][4] holding the low 4 bits of
// L(k) in its low nibble and of L(k + 32) in its high one; uint8 high[16][16][4] holding the
// top 2 bits of L(k), L(k + 16), L(k + 32), L(k + 48) at bits 0-1, 2-3, 4-5, 6-7; int8
// scale[16][16]; f16 d[16]. Unlike the other packed types, the levels are decoded in every
// product: 4 or more activation rows unpack a group's blocks once into the tiles' layout
// (float d[16]; int8 scale[16][16]; uint8 L[64][16][4]), fewer unpack in registers. One byte
// a level had made the packed copy 1.31x the file's rows.
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

using tensor::BlockQ6_K;
using tensor::BlockQ8_K;
using tensor::kQK_K;

namespace {

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

}  // namespace

size_t PackedBytesQ6_K(int64_t n_cols, int64_t n_rows) {
  return static_cast<size_t>((n_rows + kGroup - 1) / kGroup) * (n_cols / kQK_K) * kQ6KBytes;
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

void PackedGemmQ6_K(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                    size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  const int64_t nb = n / kQK_K;
  struct alignas(64) Line {  // the tiles' aligned loads
    uint8_t bytes[64];
  };
  thread_local std::vector<Line> tiles;
  for (int64_t r = row_begin; r < row_end; r += kGroup) {
    const uint8_t* group = packed + (r / kGroup) * nb * kQ6KBytes;
    const int rows = static_cast<int>(std::min<int64_t>(kGroup, row_end - r));
    if (n_x_rows < 4) {  // no tile of 4 rows to share an unpacking
      for (int64_t c = 0; c < n_x_rows; ++c) GroupTileQ6KStored(nb, group, x + c * x_row_bytes, y + c * y_stride + r, rows);
      continue;
    }
    tiles.resize(static_cast<size_t>(nb) * kQ6KTileBytes / sizeof(Line));
    auto* unpacked = reinterpret_cast<uint8_t*>(tiles.data());
    UnpackQ6KGroup(nb, group, unpacked);
    PackedKQuantGemm<kQ6KTileBytes, GroupTileQ6K<4>, GroupTileQ6K<1>>(n, unpacked, 0, rows,
                                                                x, x_row_bytes, n_x_rows, y + r, y_stride);
  }
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

void GemmQ6_K(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,
              size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  GemmByDots<DotQ6_K>(n, w, w_row_bytes, n_w_rows, x, x_row_bytes, n_x_rows, y, y_stride);
}

}  // namespace kvfuse::kernels::avx512
