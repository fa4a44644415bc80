// Packed products (KernelTable::PackedFor): over packed rows, every element equals the
// table's own dot over the unpacked rows bit for bit (a token's result may not depend on
// which of them ran) and the scalar reference's within rounding; rows outside the asked
// range and gaps in y stay untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>

#include "kernel_test_util.h"

namespace kvfuse::kernels {

using namespace testing;
using tensor::DType;

namespace {

// One block and 18 of them; element types: two lengths and one that is not a multiple of 4.
std::vector<int64_t> Lengths(DType type) {
  const int64_t block = tensor::Info(type).block_size;
  if (block == 1) return {64, 72, 999};
  return {block, 18 * block};
}

}  // namespace

TEST(Packed, GemmEqualsTheTablesDotOverUnpackedRows) {
  // 37 weight rows: two whole groups of 16 and a padded one; 37 activation rows: two tiles of
  // 16 (AMX, where the CPU has it), one of 4 and a rest.
  constexpr int64_t kWRows = 37, kXRows = 37;
  int n_checked = 0;
  for (const KernelTable* isa : IsaTables()) {
    for (DType type : kWeightTypes) {
      const PackedKernels packed = isa->PackedFor(type);
      if (!packed.gemm) continue;
      for (int64_t n : Lengths(type)) {
        if (packed.bytes(n, kWRows) == 0) continue;  // a length this table does not pack
        const DType xt = VecDotType(type);
        const size_t w_row = tensor::RowBytes(type, n), x_row = tensor::RowBytes(xt, n);
        std::vector<uint8_t> w, x;
        for (int64_t r = 0; r < kWRows; ++r) {
          const auto q = Quantize(type, RandomFloats(n, 60 + r));
          w.insert(w.end(), q.begin(), q.end());
        }
        for (int64_t t = 0; t < kXRows; ++t) {
          const auto q = Quantize(xt, RandomFloats(n, 90 + t));
          x.insert(x.end(), q.begin(), q.end());
        }
        const size_t bytes = packed.bytes(n, kWRows);
        std::unique_ptr<uint8_t, decltype(&std::free)> buffer(
            static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)), &std::free);
        packed.pack(n, kWRows, w.data(), w_row, buffer.get());
        const size_t y_stride = kWRows + 3;
        std::vector<float> y(kXRows * y_stride, -7.0f);
        // Two calls, as two threads would split the rows: [0, 16) and [16, 37).
        packed.gemm(n, buffer.get(), 0, 16, x.data(), x_row, kXRows, y.data(), y_stride);
        packed.gemm(n, buffer.get(), 16, kWRows, x.data(), x_row, kXRows, y.data(), y_stride);
        for (int64_t t = 0; t < kXRows; ++t) {
          for (int64_t r = 0; r < kWRows; ++r) {
            const float own = isa->DotFor(type)(n, w.data() + r * w_row, x.data() + t * x_row);
            const float ref = RefKernels().DotFor(type)(n, w.data() + r * w_row, x.data() + t * x_row);
            ASSERT_EQ(y[t * y_stride + r], own) << isa->name << " " << tensor::Info(type).name << " n=" << n
                                                << " r=" << r << " t=" << t;
            EXPECT_NEAR(y[t * y_stride + r], ref, 1e-4f * (1.0f + std::fabs(ref)));
            ++n_checked;
          }
          for (size_t r = kWRows; r < y_stride; ++r) EXPECT_EQ(y[t * y_stride + r], -7.0f);
        }
        // A few activation rows (a decode) may take another path: each gives the same bits.
        for (const int64_t few : {1, 2, 3}) {
          std::vector<float> y_few(few * y_stride, -7.0f);
          packed.gemm(n, buffer.get(), 0, kWRows, x.data() + (kXRows - few) * x_row, x_row, few, y_few.data(), y_stride);
          EXPECT_TRUE(std::equal(y_few.begin(), y_few.end(), y.begin() + (kXRows - few) * y_stride))
              << isa->name << " " << tensor::Info(type).name << " n=" << n << ", " << few << " activation rows";
        }
        // The table's unpacked GEMM, where it has one, computes the same.
        if (const GemmFn gemm = isa->GemmFor(type)) {
          std::vector<float> unpacked(kXRows * y_stride, -7.0f);
          gemm(n, w.data(), w_row, kWRows, x.data(), x_row, kXRows, unpacked.data(), y_stride);
          EXPECT_EQ(unpacked, y) << isa->name << " " << tensor::Info(type).name;
        }
      }
    }
  }
  if (n_checked == 0) GTEST_SKIP() << "no kernel table of this CPU packs weights";
}

// The packed copy replaces the file's pages (released after loading), so it should not hold
// much more than they did: at most 3% over the rows' own bytes, for groups of 16 whole rows
// as long as a model's (a group's padding to a cache line weighs on short rows only).
TEST(Packed, CopiesAreAboutTheSizeOfTheRows) {
  int n_checked = 0;
  for (const KernelTable* isa : IsaTables())
    for (DType type : kWeightTypes) {
      const PackedKernels packed = isa->PackedFor(type);
      if (!packed.bytes) continue;
      for (const int64_t n : {2048, 4864}) {  // rows as long as a model's, multiples of every block
        constexpr int64_t kRows = 64;
        const size_t bytes = packed.bytes(n, kRows);
        if (bytes == 0) continue;
        EXPECT_LE(static_cast<double>(bytes), 1.03 * static_cast<double>(tensor::RowBytes(type, n) * kRows))
            << isa->name << " " << tensor::Info(type).name << " n=" << n;
        ++n_checked;
      }
    }
  if (n_checked == 0) GTEST_SKIP() << "no kernel table of this CPU packs weights";
}

}  // namespace kvfuse::kernels
