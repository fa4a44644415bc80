// The signed 8-bit levels of one 32-element weight block (Q8_0, Q4_0, Q5_0) as a ymm,
// for the tiled products of avx2/ and avx512/ (include only from files compiled with
// at least -mavx2 -mfma -mf16c).
#pragma once

#include <cstring>

#include "kernels/avx2/avx2_common.h"
#include "tensor/quant_blocks.h"

namespace kvfuse::kernels::avx2 {
// Internal to each file that includes it: the AVX-512 files compile these with other
// instructions, and an out-of-line copy from one must never serve the AVX2 code.
namespace {

struct LoadQ8_0 {
  using Block = tensor::BlockQ8_0;
  static __m256i Values(const Block& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
};

struct LoadQ4_0 {
  using Block = tensor::BlockQ4_0;
  static __m256i Values(const Block& b) { return _mm256_sub_epi8(UnpackNibbles16(b.qs), _mm256_set1_epi8(8)); }
};

struct LoadQ5_0 {
  using Block = tensor::BlockQ5_0;
  static __m256i Values(const Block& b) {
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    const __m256i fifth = _mm256_and_si256(ExpandBits32(qh), _mm256_set1_epi8(0x10));
    return _mm256_sub_epi8(_mm256_or_si256(UnpackNibbles16(b.qs), fifth), _mm256_set1_epi8(16));
  }
};

}  // namespace
}  // namespace kvfuse::kernels::avx2
