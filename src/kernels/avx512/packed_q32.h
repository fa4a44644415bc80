// Shared by the packed 32-element block products (packed_q32_avx512.cpp) and their AMX tiles
// (packed_q32_amx.cpp): the packed block's size and the AMX tile, called only where
// util::DetectCpuFeatures().amx_int8.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvfuse::kernels::avx512 {

// A packed group of 16 rows holds, for its nb blocks of 32 columns, every block's levels
// (level_bytes each, a multiple of 64), then every block's 16 f16 scales (32 bytes), padded
// to a cache line, so that levels always start on one. Q8_0's levels are 8 x 16 x 4 bytes
// (kPackedQ32TileBytes: an AMX B tile as they are); Q4_0 and Q5_0 keep them in nibbles, Q5_0
// with their fifth bits after them, close to the file's bytes.
inline constexpr size_t kPackedQ32TileBytes = 16 * 32;
inline constexpr size_t kPackedQ32ScaleBytes = 16 * sizeof(uint16_t);
inline constexpr size_t PackedQ32GroupBytes(int64_t nb, size_t level_bytes) {
  return (static_cast<size_t>(nb) * (level_bytes + kPackedQ32ScaleBytes) + 63) / 64 * 64;
}
inline const uint16_t* PackedQ32Scales(const uint8_t* group, int64_t nb, size_t level_bytes) {
  return reinterpret_cast<const uint16_t*>(group + nb * level_bytes);
}

// 16 Q8_0 activation rows (x_row_bytes apart) against one packed group, its levels as tiles
// (block b at tiles + b * kPackedQ32TileBytes) and its scales (block b at scales + 16 * b):
// y[m * y_stride + r] for r < n_rows, with corrections[m * nb + b] = -offset * sum(x) of row
// m's block b and x_scales[m * nb + b] its scale as a float.
void AmxGroupTile16(int64_t nb, const uint8_t* tiles, const uint16_t* scales, const uint8_t* x, size_t x_row_bytes,
                    const int32_t* corrections, const float* x_scales, float* y, size_t y_stride, int n_rows);

}  // namespace kvfuse::kernels::avx512
