// Q8_0, Q5_0 and Q4_0 products of the avx512 table, over weights packed 16 rows at a time.
//
// Packed layout (packed_q32.h), per group of 16 rows, for each block of 32 columns: the levels
// plus the type's offset, slice s (levels 4s..4s+3 of the 16 rows) as 16 x 4 bytes
//   Q8_0: q[8][16][4]            every slice as bytes (512 bytes)
//   Q4_0: q[4][16][4]            slice s in the low nibbles, slice s + 4 in the high (256)
//   Q5_0: the same, then bits[8] one 64-bit mask per slice of its levels' fifth bit (320)
// and after every block's levels, every block's
//   f16 d[16]                    the rows' block scales, as the file has them
// (levels as stored, 0..15 for Q4_0 and 0..31 for Q5_0, are the level + 8 or + 16; Q8_0's
// are shifted by 128). One vpdpbusd multiplies a 4-column slice of all 16 rows by 4
// activation bytes broadcast: each lane is one row's sum, so nothing is reduced across
// lanes. The offset is cancelled exactly by starting each block's integer sum at
// -offset * sum(x) of its activation block. Per (row, activation row) the arithmetic is
// therefore, block by block in order,
//   acc = fma(float(exact integer dot), w_d * x_d, acc)
// and the single-row dots and unpacked GEMMs below compute exactly that, so a token's result
// never depends on which of them ran. Where the CPU has AMX, 16 activation rows at a time go
// through packed_q32_amx.cpp, which computes the same integers.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/packed_common.h"
#include "kernels/avx512/packed_q32.h"
#include "kernels/kernel_table.h"
#include "tensor/quant_blocks.h"
#include "util/cpu_features.h"

namespace kvfuse::kernels::avx512 {

using tensor::BlockQ4_0;
using tensor::BlockQ5_0;
using tensor::BlockQ8_0;

namespace {

static_assert(kPackedQ32TileBytes == kGroup * 32 && kPackedQ32ScaleBytes == kGroup * 2);

// A block's 32 levels plus the type's offset, as unsigned bytes (Get); its 16 rows' levels
// packed (Pack: levels[r] holds row r's) and read back as the 8 slices vpdpbusd takes (Slices).
struct LevelsQ8_0 {
  using Block = BlockQ8_0;
  static constexpr int kOffset = 128;
  static constexpr size_t kBytes = kPackedQ32TileBytes;
  static void Get(const Block& b, uint8_t* q) {
    for (int k = 0; k < 32; ++k) q[k] = static_cast<uint8_t>(b.qs[k] + kOffset);
  }
  static void Pack(const uint8_t (*levels)[32], uint8_t* out) {
    for (int r = 0; r < kGroup; ++r)
      for (int k = 0; k < 32; ++k) out[(k / 4) * 64 + r * 4 + k % 4] = levels[r][k];
  }
  static void Slices(const uint8_t* p, __m512i* w) {
    KVFUSE_UNROLL for (int s = 0; s < 8; ++s) w[s] = _mm512_load_si512(p + 64 * s);
  }
};
struct LevelsQ4_0 {
  using Block = BlockQ4_0;
  static constexpr int kOffset = 8;
  static constexpr size_t kBytes = kPackedQ32TileBytes / 2;
  static void Get(const Block& b, uint8_t* q) {
    for (int k = 0; k < 16; ++k) q[k] = b.qs[k] & 0x0F, q[k + 16] = b.qs[k] >> 4;
  }
  static void Pack(const uint8_t (*levels)[32], uint8_t* out) {
    for (int r = 0; r < kGroup; ++r)
      for (int k = 0; k < 16; ++k)
        out[(k / 4) * 64 + r * 4 + k % 4] = static_cast<uint8_t>((levels[r][k] & 0x0F) | (levels[r][k + 16] & 0x0F) << 4);
  }
  static void Slices(const uint8_t* p, __m512i* w) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    KVFUSE_UNROLL for (int s = 0; s < 4; ++s) {
      const __m512i v = _mm512_load_si512(p + 64 * s);
      w[s] = _mm512_and_si512(v, low4);
      w[s + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    }
  }
};
struct LevelsQ5_0 {
  using Block = BlockQ5_0;
  static constexpr int kOffset = 16;
  static constexpr size_t kBytes = kPackedQ32TileBytes / 2 + 64;
  static void Get(const Block& b, uint8_t* q) {
    uint32_t fifth;
    std::memcpy(&fifth, b.qh, 4);
    for (int k = 0; k < 16; ++k) q[k] = static_cast<uint8_t>((b.qs[k] & 0x0F) | ((fifth >> k) & 1) << 4);
    for (int k = 0; k < 16; ++k) q[k + 16] = static_cast<uint8_t>((b.qs[k] >> 4) | ((fifth >> (k + 16)) & 1) << 4);
  }
  static void Pack(const uint8_t (*levels)[32], uint8_t* out) {
    LevelsQ4_0::Pack(levels, out);
    uint64_t bits[8] = {};
    for (int r = 0; r < kGroup; ++r)
      for (int k = 0; k < 32; ++k) bits[k / 4] |= static_cast<uint64_t>(levels[r][k] >> 4 & 1) << (r * 4 + k % 4);
    std::memcpy(out + kPackedQ32TileBytes / 2, bits, sizeof(bits));
  }
  static void Slices(const uint8_t* p, __m512i* w) {
    LevelsQ4_0::Slices(p, w);
    const __m512i sixteen = _mm512_set1_epi8(16);
    KVFUSE_UNROLL for (int s = 0; s < 8; ++s) {
      uint64_t bits;
      std::memcpy(&bits, p + kPackedQ32TileBytes / 2 + 8 * s, 8);
      w[s] = _mm512_mask_add_epi8(w[s], _cvtu64_mask64(bits), w[s], sixteen);
    }
  }
};

// The exact integer dot of two blocks of 32 signed levels.
inline int32_t BlockDot(const int8_t* a, const int8_t* b) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  const __m256i pairs = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(x)),
                                          _mm256_cvtepi8_epi16(_mm256_castsi256_si128(y)));
  const __m256i pairs_hi = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1)),
                                             _mm256_cvtepi8_epi16(_mm256_extracti128_si256(y, 1)));
  return avx2::HorizontalSum(_mm256_add_epi32(pairs, pairs_hi));
}

// A buffer private to this file: a std::vector here would instantiate library code compiled
// with AVX-512 flags that the linker could keep for every caller.
template <typename T>
class ScratchBuffer {
 public:
  ~ScratchBuffer() { delete[] data_; }
  T* Get(int64_t n) {
    if (n > capacity_) {
      delete[] data_;
      data_ = new T[n];
      capacity_ = n;
    }
    return data_;
  }

 private:
  T* data_ = nullptr;
  int64_t capacity_ = 0;
};

// Per block of each activation row ([row][block]): -offset * sum(x), and the scale as a float.
void ActivationTerms(int offset, int64_t nb, const uint8_t* x, size_t x_row_bytes, int64_t n_x_rows,
                     int32_t* corrections, float* scales) {
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t c = 0; c < n_x_rows; ++c) {
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(x + c * x_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b].qs));
      const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(ones, v), _mm256_set1_epi16(1));
      corrections[c * nb + b] = -offset * avx2::HorizontalSum(sums);
      scales[c * nb + b] = avx2::HalfToFloat(blocks[b].d);
    }
  }
}

// kCols activation rows against one packed group; lanes >= n_rows are not stored.
template <typename Levels, int kCols>
void GroupTile(int64_t nb, const uint8_t* group, const uint8_t* x, size_t x_row_bytes, const int32_t* corrections,
               const float* x_scales, float* y, size_t y_stride, int n_rows) {
  // Q8_0 with one activation row reads each slice straight from memory (held in w, GCC spilled
  // them to the stack); the nibble types decode their slices, more rows share them.
  constexpr bool kDirect = kCols == 1 && std::is_same_v<Levels, LevelsQ8_0>;
  const uint16_t* all_scales = PackedQ32Scales(group, nb, Levels::kBytes);
  __m512 acc[kCols];
  KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* block = group + b * Levels::kBytes;
    const uint16_t* scales = all_scales + 16 * b;
    const __m512 wd = HalvesToFloat(scales);
    __m512i w[kDirect ? 1 : 8];
    if constexpr (!kDirect) Levels::Slices(block, w);
    const auto slice = [&](int s) { return kDirect ? _mm512_load_si512(block + 64 * s) : w[s]; };
    if constexpr (kCols == 1) {
      PrefetchAhead(block, Levels::kBytes);
      // The scales advance 32 bytes per block: as many blocks ahead as the levels.
      PrefetchAhead(scales, kPackedQ32ScaleBytes, kPrefetchAhead / Levels::kBytes * kPackedQ32ScaleBytes);
    }
    KVFUSE_UNROLL for (int c = 0; c < kCols; ++c) {
      const BlockQ8_0& xb = reinterpret_cast<const BlockQ8_0*>(x + c * x_row_bytes)[b];
      // Two chains of four (integer sums: splitting them changes nothing).
      __m512i lo = _mm512_set1_epi32(corrections[c * nb + b]), hi = _mm512_setzero_si512();
      KVFUSE_UNROLL for (int s = 0; s < 4; ++s) {
        lo = _mm512_dpbusd_epi32(lo, slice(s), Broadcast4(xb.qs + 4 * s));
        hi = _mm512_dpbusd_epi32(hi, slice(s + 4), Broadcast4(xb.qs + 16 + 4 * s));
      }
      const __m512 scale = _mm512_mul_ps(wd, _mm512_set1_ps(x_scales[c * nb + b]));
      acc[c] = _mm512_fmadd_ps(ToFloat(_mm512_add_epi32(lo, hi)), scale, acc[c]);
    }
  }
  StoreRows(acc, kCols, y, y_stride, n_rows);
}

template <typename Levels>
void Pack(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out) {
  using Block = typename Levels::Block;
  const int64_t nb = n_cols / 32;
  uint8_t levels[kGroup][32];
  for (int64_t g = 0; g < (n_rows + kGroup - 1) / kGroup; ++g) {
    uint8_t* group = out + g * PackedQ32GroupBytes(nb, Levels::kBytes);
    std::memset(group, 0, PackedQ32GroupBytes(nb, Levels::kBytes));  // the padding too
    auto* scales = const_cast<uint16_t*>(PackedQ32Scales(group, nb, Levels::kBytes));
    for (int64_t b = 0; b < nb; ++b) {
      for (int r = 0; r < kGroup; ++r) {
        const int64_t row = g * kGroup + r;
        if (row < n_rows) {
          const Block& src = reinterpret_cast<const Block*>(rows + row * row_bytes)[b];
          std::memcpy(&scales[16 * b + r], &src.d, sizeof(uint16_t));
          Levels::Get(src, levels[r]);
        } else {  // padding: scale 0, level 0
          std::memset(levels[r], Levels::kOffset, 32);
        }
      }
      Levels::Pack(levels, group + b * Levels::kBytes);
    }
  }
}

// A packed group's levels as AMX B tiles, nb x kPackedQ32TileBytes (the nibble types' decoded
// once per group, into a buffer of the calling thread's).
template <typename Levels>
const uint8_t* TilesOf(const uint8_t* group, int64_t nb) {
  if constexpr (std::is_same_v<Levels, LevelsQ8_0>) {
    return group;
  } else {
    struct alignas(64) Tile {
      uint8_t bytes[kPackedQ32TileBytes];
    };
    thread_local ScratchBuffer<Tile> buffer;
    Tile* tiles = buffer.Get(nb);
    __m512i w[8];
    for (int64_t b = 0; b < nb; ++b) {
      Levels::Slices(group + b * Levels::kBytes, w);
      KVFUSE_UNROLL for (int s = 0; s < 8; ++s) _mm512_store_si512(tiles[b].bytes + 64 * s, w[s]);
    }
    return tiles[0].bytes;
  }
}

template <typename Levels>
void PackedGemm(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,
                size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {
  constexpr int kCols = 4;
  const int64_t nb = n / 32;
  thread_local ScratchBuffer<int32_t> correction_buffer;  // each thread of the pool has its own
  thread_local ScratchBuffer<float> scale_buffer;
  int32_t* corrections = correction_buffer.Get(nb * n_x_rows);
  float* x_scales = scale_buffer.Get(nb * n_x_rows);
  ActivationTerms(Levels::kOffset, nb, x, x_row_bytes, n_x_rows, corrections, x_scales);
  static const bool amx = util::DetectCpuFeatures().amx_int8;
  const size_t group_bytes = PackedQ32GroupBytes(nb, Levels::kBytes);
  for (int64_t r = row_begin; r < row_end; r += kGroup) {
    const uint8_t* group = packed + (r / kGroup) * group_bytes;
    const int rows = static_cast<int>(std::min<int64_t>(kGroup, row_end - r));
    int64_t c = 0;
    if (amx && n_x_rows >= 16) {
      const uint8_t* tiles = TilesOf<Levels>(group, nb);
      const uint16_t* scales = PackedQ32Scales(group, nb, Levels::kBytes);
      for (; c + 16 <= n_x_rows; c += 16)
        AmxGroupTile16(nb, tiles, scales, x + c * x_row_bytes, x_row_bytes, corrections + c * nb, x_scales + c * nb,
                       y + c * y_stride + r, y_stride, rows);
    }
    for (; c + kCols <= n_x_rows; c += kCols)
      GroupTile<Levels, kCols>(nb, group, x + c * x_row_bytes, x_row_bytes, corrections + c * nb, x_scales + c * nb,
                               y + c * y_stride + r, y_stride, rows);
    for (; c < n_x_rows; ++c)
      GroupTile<Levels, 1>(nb, group, x + c * x_row_bytes, x_row_bytes, corrections + c * nb, x_scales + c * nb,
                           y + c * y_stride + r, y_stride, rows);
  }
}

template <typename Levels>
float Dot(int64_t n, const void* w, const void* x) {
  const auto* wb = static_cast<const typename Levels::Block*>(w);
  const auto* xb = static_cast<const BlockQ8_0*>(x);
  float acc = 0.0f;
  uint8_t levels[32];
  int8_t signed_levels[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    Levels::Get(wb[b], levels);
    for (int k = 0; k < 32; ++k) signed_levels[k] = static_cast<int8_t>(levels[k] - Levels::kOffset);
    const float scale = avx2::HalfToFloat(wb[b].d) * avx2::HalfToFloat(xb[b].d);
    acc = std::fma(static_cast<float>(BlockDot(signed_levels, xb[b].qs)), scale, acc);
  }
  return acc;
}

}  // namespace

#define KVFUSE_PACKED_Q32(T)                                                                                        \
  size_t PackedBytes##T(int64_t n_cols, int64_t n_rows) {                                                           \
    return static_cast<size_t>((n_rows + kGroup - 1) / kGroup) * PackedQ32GroupBytes(n_cols / 32, Levels##T::kBytes); \
  }                                                                                                                 \
  void Pack##T(int64_t n_cols, int64_t n_rows, const uint8_t* rows, size_t row_bytes, uint8_t* out) {                \
    Pack<Levels##T>(n_cols, n_rows, rows, row_bytes, out);                                                          \
  }                                                                                                                 \
  void PackedGemm##T(int64_t n, const uint8_t* packed, int64_t row_begin, int64_t row_end, const uint8_t* x,         \
                     size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {                             \
    PackedGemm<Levels##T>(n, packed, row_begin, row_end, x, x_row_bytes, n_x_rows, y, y_stride);                    \
  }                                                                                                                 \
  float Dot##T(int64_t n, const void* w, const void* x) { return Dot<Levels##T>(n, w, x); }                          \
  void Gemm##T(int64_t n, const uint8_t* w, size_t w_row_bytes, int64_t n_w_rows, const uint8_t* x,                 \
               size_t x_row_bytes, int64_t n_x_rows, float* y, size_t y_stride) {                                   \
    GemmByDots<Dot##T>(n, w, w_row_bytes, n_w_rows, x, x_row_bytes, n_x_rows, y, y_stride);                         \
  }
KVFUSE_PACKED_Q32(Q8_0)
KVFUSE_PACKED_Q32(Q5_0)
KVFUSE_PACKED_Q32(Q4_0)
#undef KVFUSE_PACKED_Q32

}  // namespace kvfuse::kernels::avx512
