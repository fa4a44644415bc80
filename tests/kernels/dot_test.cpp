// Every dot-product kernel against (1) an exact double-precision dot of the dequantised
// operands and (2) the scalar reference, over several lengths and seeds.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "tensor/half.h"

namespace kvfuse::kernels {

using namespace testing;
using tensor::DType;

namespace {

struct DotCase {
  std::vector<uint8_t> w, x;  // w in its type, x in VecDotType
  double exact = 0;           // double dot of the dequantised operands
  double magnitude = 0;       // sum |w_i x_i|, the scale of rounding errors
};

DotCase MakeCase(DType type, int64_t n, uint32_t seed) {
  DotCase c;
  const auto wf = RandomFloats(n, seed);
  const auto xf = RandomFloats(n, seed + 1000);
  c.w = Quantize(type, wf);
  const DType xt = VecDotType(type);
  c.x = Quantize(xt, xf);
  const auto wd = Dequantize(type, c.w, n);
  const auto xd = Dequantize(xt, c.x, n);
  for (int64_t i = 0; i < n; ++i) {
    c.exact += static_cast<double>(wd[i]) * xd[i];
    c.magnitude += std::fabs(static_cast<double>(wd[i]) * xd[i]);
  }
  return c;
}

std::vector<int64_t> Lengths(DType type) {
  const int64_t block = tensor::Info(type).block_size;
  if (block == 256) return {256, 512, 2304};
  if (block == 32) return {32, 96, 576, 4864};
  return {1, 7, 8, 33, 64, 576, 1000};
}

}  // namespace

TEST(Dot, ReferenceMatchesExactDotOfDequantisedOperands) {
  for (DType type : kWeightTypes) {
    for (int64_t n : Lengths(type)) {
      for (uint32_t seed : {1u, 2u, 3u}) {
        const DotCase c = MakeCase(type, n, seed);
        const float got = RefKernels().DotFor(type)(n, c.w.data(), c.x.data());
        EXPECT_NEAR(got, c.exact, 1e-5 * c.magnitude + 1e-6)
            << tensor::Info(type).name << " n=" << n << " seed=" << seed;
      }
    }
  }
}

TEST(Dot, IsaVariantsMatchReference) {
  for (const KernelTable* isa : IsaTables()) {
    for (DType type : kWeightTypes) {
      for (int64_t n : Lengths(type)) {
        for (uint32_t seed : {4u, 5u}) {
          const DotCase c = MakeCase(type, n, seed);
          const float want = RefKernels().DotFor(type)(n, c.w.data(), c.x.data());
          const float got = isa->DotFor(type)(n, c.w.data(), c.x.data());
          EXPECT_NEAR(got, want, 2e-6 * c.magnitude + 1e-6)
              << isa->name << " " << tensor::Info(type).name << " n=" << n << " seed=" << seed;
        }
      }
    }
  }
}

TEST(Dot, IsaGemmMatchesReferenceDotPerElement) {
  // Shapes with remainders in both tile directions (tiles are up to 4 weight rows and up to
  // 8 activation rows).
  constexpr int64_t kWRows = 7, kXRows = 11;
  for (const KernelTable* isa : IsaTables()) {
    for (DType type : kWeightTypes) {
      const GemmFn gemm = isa->GemmFor(type);
      if (gemm == nullptr) continue;
      const int64_t kN = 3 * tensor::Info(type).block_size;
      const DType xt = VecDotType(type);
      const size_t w_row = tensor::RowBytes(type, kN), x_row = tensor::RowBytes(xt, kN);
      std::vector<uint8_t> w, x;
      for (int64_t r = 0; r < kWRows; ++r) {
        const auto q = Quantize(type, RandomFloats(kN, 20 + r));
        w.insert(w.end(), q.begin(), q.end());
      }
      for (int64_t t = 0; t < kXRows; ++t) {
        const auto q = Quantize(xt, RandomFloats(kN, 40 + t));
        x.insert(x.end(), q.begin(), q.end());
      }
      const size_t y_stride = kWRows + 3;  // wider than the tile: gaps must stay untouched
      std::vector<float> y(kXRows * y_stride, -7.0f);
      gemm(kN, w.data(), w_row, kWRows, x.data(), x_row, kXRows, y.data(), y_stride);
      for (int64_t t = 0; t < kXRows; ++t) {
        for (int64_t r = 0; r < kWRows; ++r) {
          const float want = RefKernels().DotFor(type)(kN, w.data() + r * w_row, x.data() + t * x_row);
          EXPECT_NEAR(y[t * y_stride + r], want, 1e-4f * (1.0f + std::fabs(want)))
              << isa->name << " " << tensor::Info(type).name << " r=" << r << " t=" << t;
        }
        for (size_t r = kWRows; r < y_stride; ++r) EXPECT_EQ(y[t * y_stride + r], -7.0f);
      }
    }
  }
}

TEST(Dot, IsaQuantizeQ8_0IsBitIdentical) {
  for (const KernelTable* isa : IsaTables()) {
    for (int64_t n : {32, 64, 4096}) {
      auto x = RandomFloats(n, 9, 3.0f);
      x[3] = 0.5f;  // exact ties exercise round-half-even
      std::vector<uint8_t> want(tensor::RowBytes(DType::kQ8_0, n)), got(want.size());
      RefKernels().quantize_q8_0(x.data(), want.data(), n);
      isa->quantize_q8_0(x.data(), got.data(), n);
      EXPECT_EQ(want, got) << isa->name << " n=" << n;
    }
    std::vector<float> zeros(64, 0.0f);
    std::vector<uint8_t> q(tensor::RowBytes(DType::kQ8_0, 64), 0xAB);
    isa->quantize_q8_0(zeros.data(), q.data(), 64);
    for (uint8_t b : q) EXPECT_EQ(b, 0);
  }
}

TEST(Dot, IsaFloatToHalfMatchesReference) {
  for (const KernelTable* isa : IsaTables()) {
    for (int64_t n : {1, 8, 13, 64, 100}) {
      const auto b = RandomFloats(n, 12);
      std::vector<uint16_t> b16(n), b16_isa(n);
      RefKernels().f32_to_f16(b.data(), b16.data(), n);
      isa->f32_to_f16(b.data(), b16_isa.data(), n);
      EXPECT_EQ(b16, b16_isa) << isa->name << " f32_to_f16 n=" << n;
    }
  }
}

}  // namespace kvfuse::kernels
