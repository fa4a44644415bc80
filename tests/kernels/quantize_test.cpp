// Quantisation round trips and the half/bfloat16 conversions.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "tensor/half.h"

namespace kvfuse::kernels {

using namespace testing;
using tensor::DType;

namespace {

// Largest error of a round trip relative to the largest |x|, per type: about half a
// quantisation step (a 4-bit affine code has 15 steps over the range, and so on).
double MaxRelativeError(DType type) {
  switch (type) {
    case DType::kF32: return 0;
    case DType::kF16: return 1e-3;
    case DType::kBF16: return 8e-3;
    case DType::kQ8_0: return 1.0 / 127;
    case DType::kQ8_K: return 1.0 / 127;
    case DType::kQ6_K: return 1.5 / 31;
    case DType::kQ5_0: return 1.0 / 16;
    case DType::kQ5_K: return 1.5 / 31;
    case DType::kQ4_0: return 1.0 / 8;
    case DType::kQ4_K: return 1.5 / 15;
  }
  return 0;
}

}  // namespace

TEST(Quantize, RoundTripErrorIsWithinHalfAStep) {
  const DType types[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ8_K,
                         DType::kQ6_K, DType::kQ5_0, DType::kQ5_K, DType::kQ4_0, DType::kQ4_K};
  for (DType type : types) {
    for (int64_t n : {256, 512, 1024}) {
      const auto x = RandomFloats(n, static_cast<uint32_t>(n) + static_cast<uint32_t>(type));
      const auto y = Dequantize(type, Quantize(type, x), n);
      double max_abs = 0, max_err = 0;
      for (int64_t i = 0; i < n; ++i) {
        max_abs = std::max(max_abs, std::fabs(static_cast<double>(x[i])));
        max_err = std::max(max_err, std::fabs(static_cast<double>(x[i]) - y[i]));
      }
      EXPECT_LE(max_err, MaxRelativeError(type) * max_abs + 1e-7)
          << tensor::Info(type).name << " n=" << n;
    }
  }
}

TEST(Quantize, ZeroRowsStayZero) {
  for (DType type : kWeightTypes) {
    const std::vector<float> x(256, 0.0f);
    const auto y = Dequantize(type, Quantize(type, x), 256);
    for (float v : y) ASSERT_EQ(v, 0.0f) << tensor::Info(type).name;
  }
}

TEST(Quantize, Q8_0ExtremeValueIsExact) {
  std::vector<float> x(32, 0.5f);
  x[5] = -3.0f;
  const auto y = Dequantize(DType::kQ8_0, Quantize(DType::kQ8_0, x), 32);
  EXPECT_NEAR(y[5], -3.0f, 3.0f / 127 * 1e-3 + 2e-3);
}

TEST(Half, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = tensor::Fp16ToFp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(tensor::Fp32ToFp16(f), h) << std::hex << h;
  }
}

TEST(Half, RoundsToNearestEven) {
  EXPECT_EQ(tensor::Fp32ToFp16(1.0f), 0x3C00);
  EXPECT_EQ(tensor::Fp32ToFp16(65504.0f), 0x7BFF);
  EXPECT_EQ(tensor::Fp32ToFp16(65520.0f), 0x7C00);  // ties to even: overflows to inf
  EXPECT_EQ(tensor::Fp32ToFp16(1.0f + 1.0f / 2048), 0x3C00);          // tie, even stays
  EXPECT_EQ(tensor::Fp32ToFp16(1.0f + 3.0f / 2048), 0x3C02);          // tie, odd rounds up
  EXPECT_EQ(tensor::Fp32ToFp16(std::ldexp(1.0f, -24)), 0x0001);       // smallest subnormal
  EXPECT_EQ(tensor::Fp32ToFp16(std::ldexp(1.0f, -26)), 0x0000);
  EXPECT_EQ(tensor::Fp32ToFp16(-2.0f), 0xC000);
}

TEST(Half, BFloat16) {
  EXPECT_EQ(tensor::Fp32ToBf16(1.0f), 0x3F80);
  EXPECT_EQ(tensor::Bf16ToFp32(0x3F80), 1.0f);
  EXPECT_EQ(tensor::Fp32ToBf16(tensor::Fp32FromBits(0x3F808000)), 0x3F80);  // tie to even
  EXPECT_EQ(tensor::Fp32ToBf16(tensor::Fp32FromBits(0x3F818000)), 0x3F82);
}

}  // namespace kvfuse::kernels
