// Byte layout of the quantized blocks, identical to ggml's (the GGUF on-disk format).
// d/dmin are IEEE half precision stored as uint16_t.
#pragma once

#include <cstdint>

namespace kvfuse::tensor {

constexpr int kQK4_0 = 32;
constexpr int kQK5_0 = 32;
constexpr int kQK8_0 = 32;
constexpr int kQK_K = 256;         // super-block of the K-quants
constexpr int kKScaleSize = 12;    // packed 6-bit scales and mins of Q4_K/Q5_K

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];  // element j: low nibble of qs[j]; element j+16: high nibble
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];           // fifth bit of each of the 32 elements (little-endian uint32)
  uint8_t qs[kQK5_0 / 2];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];  // 8 six-bit scales and 8 six-bit mins
  uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];  // sum of each group of 16 qs
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace kvfuse::tensor
