// The packed 32-element block products with AMX: 16 activation rows against one packed group
// of 16 weight rows, one block at a time. A packed block's 8 x 64 level bytes are exactly
// an AMX B tile (K/4 rows of 16 columns x 4), an activation block of 16 rows is an A tile of
// 16 x 32 signed bytes read in place (stride: the activation row), and TDPBSUD leaves every
// (activation row, weight row) integer sum of the block; the float epilogue is the VNNI
// path's, so the results are the same bit for bit.
#include <immintrin.h>

#include "kernels/avx2/avx2_common.h"
#include "kernels/avx512/packed_common.h"
#include "kernels/avx512/packed_q32.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx512 {

namespace {

// Palette 1: tiles 0 and 1 the 16 x 16 int32 sums of two blocks, 2 and 3 their activations
// (16 x 32 bytes), 4 and 5 their weights (8 x 64 bytes): two blocks per step, whose sums are
// read during the next step.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 32, 32, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 8, 8};
};

void ConfigureTiles() {
  thread_local bool configured = false;  // the tile configuration is per thread
  if (configured) return;
  static const TileConfig config;
  _tile_loadconfig(&config);
  configured = true;
}

// acc[m] += float(sums[m] + correction of row m) * (w_d * x_d of row m), block b.
inline void Epilogue(const int32_t (*sums)[16], const uint16_t* scales, const int32_t* corrections,
                     const float* x_scales, int64_t nb, int64_t b, __m512* acc) {
  const __m512 wd = HalvesToFloat(scales + 16 * b);
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) {
    const __m512i sum = _mm512_add_epi32(_mm512_load_si512(sums[m]), _mm512_set1_epi32(corrections[m * nb + b]));
    acc[m] = _mm512_fmadd_ps(ToFloat(sum), _mm512_mul_ps(wd, _mm512_set1_ps(x_scales[m * nb + b])), acc[m]);
  }
}

}  // namespace

void AmxGroupTile16(int64_t nb, const uint8_t* tiles, const uint16_t* scales, const uint8_t* x, size_t x_row_bytes,
                    const int32_t* corrections, const float* x_scales, float* y, size_t y_stride, int n_rows) {
  ConfigureTiles();
  constexpr size_t kQs = offsetof(tensor::BlockQ8_0, qs);
  __m512 acc[16];
#pragma GCC unroll 16
  for (int m = 0; m < 16; ++m) acc[m] = _mm512_setzero_ps();
  // Software-pipelined: a pair's sums are read one pair later, while the next pair's products
  // run (reading them at once would wait for the tile stores). Blocks still reach acc in order.
  alignas(64) int32_t sums[2][2][16][16];
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const int slot = static_cast<int>(b / 2) & 1;
    _tile_zero(0);
    _tile_zero(1);
    _tile_loadd(2, x + b * sizeof(tensor::BlockQ8_0) + kQs, x_row_bytes);
    _tile_loadd(4, tiles + b * kPackedQ32TileBytes, 64);
    _tile_loadd(3, x + (b + 1) * sizeof(tensor::BlockQ8_0) + kQs, x_row_bytes);
    _tile_loadd(5, tiles + (b + 1) * kPackedQ32TileBytes, 64);
    _tile_dpbsud(0, 2, 4);
    _tile_dpbsud(1, 3, 5);
    if (b >= 2) {
      Epilogue(sums[slot ^ 1][0], scales, corrections, x_scales, nb, b - 2, acc);
      Epilogue(sums[slot ^ 1][1], scales, corrections, x_scales, nb, b - 1, acc);
    }
    _tile_stored(0, sums[slot][0], 64);
    _tile_stored(1, sums[slot][1], 64);
  }
  if (b >= 2) {
    const int slot = static_cast<int>((b - 2) / 2) & 1;
    Epilogue(sums[slot][0], scales, corrections, x_scales, nb, b - 2, acc);
    Epilogue(sums[slot][1], scales, corrections, x_scales, nb, b - 1, acc);
  }
  for (; b < nb; ++b) {  // an odd last block
    _tile_zero(0);
    _tile_loadd(2, x + b * sizeof(tensor::BlockQ8_0) + kQs, x_row_bytes);
    _tile_loadd(4, tiles + b * kPackedQ32TileBytes, 64);
    _tile_dpbsud(0, 2, 4);
    _tile_stored(0, sums[0][0], 64);
    Epilogue(sums[0][0], scales, corrections, x_scales, nb, b, acc);
  }
  StoreRows(acc, 16, y, y_stride, n_rows);
}

}  // namespace kvfuse::kernels::avx512
