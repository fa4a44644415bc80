// Shared by the packed 32-element block products (packed_q32_avx512.cpp) and their AMX tiles
// (packed_q32_amx.cpp): the packed block's size and the AMX tile, called only where
// util::DetectCpuFeatures().amx_int8.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvfuse::kernels::avx512 {

// float d[16], then 8 x 16 x 4 level bytes: 9 cache lines.
inline constexpr size_t kPackedQ32BlockBytes = 16 * sizeof(float) + 16 * 32;

// 16 Q8_0 activation rows (x_row_bytes apart) against one packed group: y[m * y_stride + r]
// for r < n_rows, with corrections[m * nb + b] = -offset * sum(x) of row m's block b and
// x_scales[m * nb + b] its scale as a float.
void AmxGroupTile16(int64_t nb, const uint8_t* group, const uint8_t* x, size_t x_row_bytes,
                    const int32_t* corrections, const float* x_scales, float* y, size_t y_stride, int n_rows);

}  // namespace kvfuse::kernels::avx512
