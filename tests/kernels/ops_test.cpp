#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kernel_test_util.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "tensor/half.h"

namespace kvfuse::kernels {

using namespace testing;

TEST(Ops, RmsNormMatchesDouble) {
  const auto x = RandomFloats(576, 1);
  const auto w = RandomFloats(576, 2);
  std::vector<float> out(576);
  RmsNorm(x.data(), w.data(), 576, 1e-6f, out.data());
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const double scale = 1.0 / std::sqrt(ss / 576 + 1e-6);
  for (int i = 0; i < 576; ++i) EXPECT_NEAR(out[i], x[i] * scale * w[i], 1e-5);
}

TEST(Ops, RopeRotationsCompose) {
  // Rotating by position a, then by b, equals rotating by a + b: the property chunk
  // fusion relies on to move cached keys.
  for (bool neox : {false, true}) {
    const RopeParams p{64, 64, 10000.f, neox};
    const auto x = RandomFloats(2 * 64, 3);
    std::vector<float> twice(x), once(x);
    Rope(twice.data(), 2, 37.f, p);
    Rope(twice.data(), 2, 100.f, p);
    Rope(once.data(), 2, 137.f, p);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(twice[i], once[i], 2e-4) << "neox " << neox;
  }
}

TEST(Ops, ShiftKeysF16EqualsRotatingAtTheNewPosition) {
  for (bool neox : {false, true}) {
    for (float delta : {-1.f, 5.f, 1000.f}) {
      const RopeParams p{64, 64, 1e6f, neox};
      const auto x = RandomFloats(2 * 64, 4);
      std::vector<float> at_old(x), at_new(x);
      Rope(at_old.data(), 2, 40.f, p);
      Rope(at_new.data(), 2, 40.f + delta, p);
      std::vector<uint16_t> k(x.size());
      RefKernels().f32_to_f16(at_old.data(), k.data(), static_cast<int64_t>(k.size()));
      // Every table's shift is the reference's: Rope by delta between exact f16 conversions.
      std::vector<float> turned(x.size());
      for (size_t i = 0; i < x.size(); ++i) turned[i] = tensor::Fp16ToFp32(k[i]);
      Rope(turned.data(), 2, delta, p);
      std::vector<uint16_t> want(x.size());
      for (size_t i = 0; i < x.size(); ++i) want[i] = tensor::Fp32ToFp16(turned[i]);
      std::vector<const KernelTable*> tables = IsaTables();
      tables.push_back(&RefKernels());
      for (const KernelTable* table : tables) {
        std::vector<uint16_t> shifted(k);
        ShiftKeysF16(*table, shifted.data(), shifted.data(), 2, RopeAnglesAt(delta, p), p);
        EXPECT_EQ(shifted, want) << table->name;
      }
      ShiftKeysF16(RefKernels(), k.data(), k.data(), 2, RopeAnglesAt(delta, p), p);
      for (size_t i = 0; i < x.size(); ++i)
        EXPECT_NEAR(tensor::Fp16ToFp32(k[i]), at_new[i], 2e-3 * (1 + std::fabs(at_new[i])))
            << "neox " << neox << " delta " << delta;
    }
  }
}

TEST(Ops, RopeMatchesDoubleFormula) {
  const RopeParams p{8, 8, 10000.f, false};
  const auto x = RandomFloats(8, 4);
  std::vector<float> y(x);
  Rope(y.data(), 1, 5.f, p);
  for (int i = 0; i < 4; ++i) {
    const double theta = 5.0 * std::pow(10000.0, -2.0 * i / 8);
    EXPECT_NEAR(y[2 * i], x[2 * i] * std::cos(theta) - x[2 * i + 1] * std::sin(theta), 1e-5);
    EXPECT_NEAR(y[2 * i + 1], x[2 * i] * std::sin(theta) + x[2 * i + 1] * std::cos(theta), 1e-5);
  }
}

// Linear scaling and Llama 3's per-pair frequency factors divide each pair's angle, in both
// pair orders; re-rotating keys by a delta still equals rotating them at the new position.
TEST(Ops, ScaledRopeMatchesDoubleFormulaAndStillComposes) {
  const std::vector<float> factors = {1.f, 1.5f, 4.f, 32.f};
  for (bool neox : {false, true}) {
    const RopeParams p{8, 8, 500000.f, neox, 0.25f, factors.data()};
    const auto x = RandomFloats(8, 5);
    std::vector<float> y(x);
    Rope(y.data(), 1, 300.f, p);
    for (int i = 0; i < 4; ++i) {
      const double theta = 300.0 * 0.25 * std::pow(500000.0, -2.0 * i / 8) / factors[i];
      const int a = neox ? i : 2 * i, b = neox ? i + 4 : 2 * i + 1;
      EXPECT_NEAR(y[a], x[a] * std::cos(theta) - x[b] * std::sin(theta), 2e-5) << "neox " << neox << " pair " << i;
      EXPECT_NEAR(y[b], x[a] * std::sin(theta) + x[b] * std::cos(theta), 2e-5) << "neox " << neox << " pair " << i;
    }
    std::vector<float> at_new(x);
    Rope(at_new.data(), 1, 1300.f, p);
    std::vector<uint16_t> k(x.size());
    RefKernels().f32_to_f16(y.data(), k.data(), static_cast<int64_t>(k.size()));
    ShiftKeysF16(RefKernels(), k.data(), k.data(), 1, RopeAnglesAt(1000.f, p), p);
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_NEAR(tensor::Fp16ToFp32(k[i]), at_new[i], 2e-3 * (1 + std::fabs(at_new[i]))) << "neox " << neox;
  }
}

// The gated activations (SwiGLU, Gemma's tanh-form GELU) of every table, and soft-capping,
// against their definitions in double, over values where exp saturates too.
TEST(Ops, GatedActivationsAndSoftCapMatchDouble) {
  const std::vector<float> gate = RandomFloats(600, 31, 12.0f), up = RandomFloats(600, 32);
  std::vector<const KernelTable*> tables = IsaTables();
  tables.push_back(&RefKernels());
  for (const KernelTable* table : tables) {
    std::vector<float> silu = gate, gelu = gate;
    SwiGlu(*table, silu.data(), up.data(), 600);
    GeGlu(*table, gelu.data(), up.data(), 600);
    for (int i = 0; i < 600; ++i) {
      const double x = gate[i];
      const double want_silu = x / (1 + std::exp(-x)) * up[i];
      const double want_gelu = 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))) * up[i];
      EXPECT_NEAR(silu[i], want_silu, 2e-6 * (1 + std::fabs(want_silu))) << table->name << " " << x;
      EXPECT_NEAR(gelu[i], want_gelu, 2e-6 * (1 + std::fabs(want_gelu))) << table->name << " " << x;
    }
  }
  std::vector<float> capped = gate;
  SoftCap(capped.data(), 600, 2.5f);
  for (int i = 0; i < 600; ++i) EXPECT_NEAR(capped[i], 2.5 * std::tanh(gate[i] / 2.5), 1e-6) << gate[i];
}

TEST(MatMul, MatchesPerRowDotForEveryTypeAndThreadCount) {
  for (int n_threads : {1, 2, 3}) {
    util::ThreadPool pool(n_threads);
    for (tensor::DType type : kWeightTypes) {
      const int64_t n_cols = 256, n_rows = 37, n_tokens = 5;
      const auto wf = RandomFloats(n_cols * n_rows, 21);
      std::vector<uint8_t> w(tensor::RowBytes(type, n_cols) * n_rows);
      for (int64_t r = 0; r < n_rows; ++r)
        QuantizeRow(type, wf.data() + r * n_cols, w.data() + r * tensor::RowBytes(type, n_cols), n_cols);
      const auto x = RandomFloats(n_cols * n_tokens, 22);
      const WeightView view{type, n_cols, n_rows, w.data()};
      std::vector<float> y(n_rows * n_tokens);
      std::vector<uint8_t> scratch;
      MatMul(RefKernels(), pool, view, x.data(), n_tokens, y.data(), scratch);
      for (int64_t t = 0; t < n_tokens; ++t) {
        const auto xq = Quantize(VecDotType(type), std::vector<float>(x.begin() + t * n_cols, x.begin() + (t + 1) * n_cols));
        for (int64_t r = 0; r < n_rows; ++r)
          ASSERT_EQ(y[t * n_rows + r], RefKernels().DotFor(type)(n_cols, view.row(r), xq.data()))
              << tensor::Info(type).name << " t=" << t << " r=" << r;
      }
    }
  }
}

TEST(Ops, ExpOfEveryTableIsWithinTwoUlpOfDouble) {
  std::vector<float> x = RandomFloats(1001, 21, 40.0f);  // an odd count: the vector tail too
  for (float& v : x) v = std::clamp(v, -87.0f, 88.0f);
  for (float v : {0.0f, -1e-8f, 1e-8f, -1.0f, 1.0f, -87.0f, 88.0f, -20.5f, 0.693147f, -0.693147f}) x.push_back(v);
  std::vector<const KernelTable*> tables = IsaTables();
  tables.push_back(&RefKernels());
  for (const KernelTable* table : tables) {
    std::vector<float> y(x.size());
    table->exp_f32(static_cast<int64_t>(x.size()), x.data(), y.data());
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp(static_cast<double>(x[i]));
      EXPECT_NEAR(y[i], want, 2.5e-7 * want) << table->name << " exp(" << x[i] << ")";
    }
    const float below[] = {-88.0f, -100.0f, -1e30f};  // softmax weights that round to nothing
    float tiny[3];
    table->exp_f32(3, below, tiny);
    for (float t : tiny) EXPECT_LE(t, 1.2e-38f) << table->name;
    const float nan = std::nanf(""), got_nan = [&] { float y; table->exp_f32(1, &nan, &y); return y; }();
    EXPECT_TRUE(std::isnan(got_nan)) << table->name << ": a NaN must stay NaN";
  }
}

// The attention tile kernels of every table against the contract's scalar FMA chains, bit for
// bit, and against double: widths that are and are not multiples of 8 and 16, tiles that are
// not full, row counts around each table's row block, slots out of order (as block tables
// are).
TEST(Ops, AttentionTileKernelsOfEveryTableEqualTheirScalarChainsBitForBit) {
  for (int dim : {8, 16, 33, 40, 64, 80, 128, 256, 272}) {
    constexpr int kRows = 70, kQueries = 13;
    constexpr double kSumError = 0x1p-24;  // a float sum of m terms is within m * 2^-24 * sum |term|
    std::vector<uint16_t> rows;
    for (float x : RandomFloats(kRows * dim, 41, 2.0f)) rows.push_back(tensor::Fp32ToFp16(x));
    std::vector<int32_t> slots(kKeyTile);
    for (int j = 0; j < kKeyTile; ++j) slots[j] = (j * 11 + 5) % kRows;
    auto key = [&](int j, int i) { return tensor::Fp16ToFp32(rows[slots[j] * dim + i]); };
    const std::vector<float> q = RandomFloats(kQueries * dim, 43, 3.0f), w = RandomFloats(kQueries * kKeyTile, 44);
    const std::vector<float> start = RandomFloats(kQueries * dim, 45);
    std::vector<const float*> q_rows;
    for (int r = 0; r < kQueries; ++r) q_rows.push_back(q.data() + r * dim);
    std::vector<const KernelTable*> tables = IsaTables();
    tables.push_back(&RefKernels());
    for (const KernelTable* table : tables)
      for (int n : {1, 15, 16, 17, 50, kKeyTile})
        for (int n_rows : {1, 2, 5, 6, 7, kQueries}) {
          const std::string what = std::string(table->name) + " dim " + std::to_string(dim) + " keys " +
                                   std::to_string(n) + " rows " + std::to_string(n_rows);
          // Each buffer is followed by sentinels that nothing may write.
          constexpr float kSentinel = -7.0f;
          constexpr int kPad = 16;
          std::vector<float> kt(dim * kKeyTile + kPad, kSentinel), logits(n_rows * kKeyTile + kPad, kSentinel);
          std::vector<float> acc = start;
          acc.resize(start.size() + kPad, kSentinel);
          table->transpose_keys(dim, rows.data(), dim, slots.data(), n, kt.data());
          for (int i = 0; i < dim; ++i)
            for (int j = 0; j < kKeyTile; ++j) ASSERT_EQ(kt[i * kKeyTile + j], j < n ? key(j, i) : 0.0f) << what;
          for (int p = 0; p < kPad; ++p) ASSERT_EQ(kt[dim * kKeyTile + p], kSentinel) << what;
          table->dot_keys(dim, q_rows.data(), n_rows, kt.data(), logits.data());
          std::vector<float*> acc_rows;
          for (int r = 0; r < n_rows; ++r) acc_rows.push_back(acc.data() + r * dim);
          table->weighted_sum(dim, w.data(), n_rows, rows.data(), dim, slots.data(), n, acc_rows.data());
          for (int r = 0; r < n_rows; ++r) {
            for (int j = 0; j < n; ++j) {
              float chain = 0;
              double exact = 0, magnitude = 0;
              for (int i = 0; i < dim; ++i) {
                chain = std::fma(q[r * dim + i], key(j, i), chain);
                exact += double{q[r * dim + i]} * key(j, i);
                magnitude += std::abs(double{q[r * dim + i]} * key(j, i));
              }
              ASSERT_EQ(logits[r * kKeyTile + j], chain) << what << " row " << r << " key " << j;
              ASSERT_NEAR(chain, exact, kSumError * dim * magnitude) << what;
            }
            for (int j = n; j < kKeyTile; ++j) ASSERT_EQ(logits[r * kKeyTile + j], 0.0f) << what << ": a zero key";
            for (int i = 0; i < dim; ++i) {
              float chain = start[r * dim + i];
              double exact = chain, magnitude = std::abs(exact);
              for (int j = 0; j < n; ++j) {
                const double term = double{w[r * kKeyTile + j]} * tensor::Fp16ToFp32(rows[slots[j] * dim + i]);
                chain = std::fma(w[r * kKeyTile + j], tensor::Fp16ToFp32(rows[slots[j] * dim + i]), chain);
                exact += term;
                magnitude += std::abs(term);
              }
              ASSERT_EQ(acc[r * dim + i], chain) << what << " row " << r << " column " << i;
              ASSERT_NEAR(chain, exact, kSumError * (n + 1) * magnitude) << what;
            }
          }
          for (int r = n_rows; r < kQueries; ++r)  // rows past n_rows untouched
            for (int i = 0; i < dim; ++i) ASSERT_EQ(acc[r * dim + i], start[r * dim + i]) << what;
          for (int p = 0; p < kPad; ++p) {
            ASSERT_EQ(logits[n_rows * kKeyTile + p], kSentinel) << what;
            ASSERT_EQ(acc[start.size() + p], kSentinel) << what;
          }
        }
  }
}

// One tile of an online softmax on every table, against double: tiles that are and are not
// full, windows that start inside the tile (in each of its 16-lane quarters), a running
// maximum below the tile's (the running sum shrinks) and above it (nothing shrinks), a NaN
// logit in the window left out of the maximum, and NaN or infinite logits before the window
// that weigh 0 and change nothing; logits past n are not touched.
TEST(Ops, SoftmaxTileOfEveryTableMatchesDouble) {
  std::vector<const KernelTable*> tables = IsaTables();
  tables.push_back(&RefKernels());
  const float kScale = 0.37f;
  for (const KernelTable* table : tables)
    for (int n : {1, 7, 16, 17, 50, kKeyTile})
      for (int skip : {0, 3, 16, 40, 63})
        for (float running_max : {-std::numeric_limits<float>::infinity(), 1.0f, 9.0f}) {
          if (skip >= n) continue;
          const std::string what = std::string(table->name) + " n " + std::to_string(n) + " skip " +
                                   std::to_string(skip) + " max " + std::to_string(running_max);
          std::vector<float> logits = RandomFloats(n, 51 + n + skip, 12.0f), before = logits;
          const bool with_nan = running_max == 1.0f && n > skip + 1;
          if (with_nan) logits[n - 1] = before[n - 1] = std::nanf("");
          if (skip > 0) logits[0] = before[0] = std::nanf("");
          if (skip > 1) logits[1] = before[1] = std::numeric_limits<float>::infinity();
          constexpr float kSentinel = -7.0f;
          logits.resize(n + 16, kSentinel);
          float max = running_max;
          double sum = 2.5;
          const float shrink = table->softmax_tile(logits.data(), n, skip, kScale, &max, &sum);
          float want_max = running_max;
          for (int j = skip; j < n; ++j)
            if (!std::isnan(before[j])) want_max = std::max(want_max, before[j] * kScale);
          ASSERT_EQ(max, want_max) << what;
          const double want_shrink = want_max > running_max ? std::exp(double{running_max} - want_max) : 1.0;
          ASSERT_NEAR(shrink, want_shrink, 1e-6 * want_shrink) << what;
          double want_sum = 2.5 * want_shrink;
          for (int j = 0; j < n; ++j) {
            if (j < skip) {
              ASSERT_EQ(logits[j], 0.0f) << what;
              continue;
            }
            const double arg = double{before[j] * kScale} - want_max, want = std::exp(arg);
            if (std::isnan(before[j])) {
              ASSERT_TRUE(std::isnan(logits[j])) << what << ": a NaN logit stays NaN";
              continue;
            }
            // exp's 2 ulp, and the float rounding of its argument (x - max): |arg| * 2^-24.
            ASSERT_NEAR(logits[j], want, want * (2.4e-7 + std::abs(arg) * 0x1p-24) + 1e-30) << what << " " << j;
            want_sum += want;
          }
          for (int j = n; j < n + 16; ++j) ASSERT_EQ(logits[j], kSentinel) << what << ": past n";
          if (with_nan) {
            ASSERT_TRUE(std::isnan(sum)) << what << ": a NaN weight makes the sum NaN";
          } else {
            ASSERT_NEAR(sum, want_sum, 1e-6 * want_sum) << what;
          }
        }
}

TEST(Ops, GatheredF16RowsOfEveryTableConvertExactly) {
  for (int dim : {8, 33, 64}) {
    constexpr int kRows = 37, kUsed = 23;
    std::vector<uint16_t> rows;
    for (float x : RandomFloats(kRows * dim, 31, 2.0f)) rows.push_back(tensor::Fp32ToFp16(x));
    std::vector<int32_t> slots(kUsed);
    for (int j = 0; j < kUsed; ++j) slots[j] = (j * 7 + 3) % kRows;
    std::vector<const KernelTable*> tables = IsaTables();
    tables.push_back(&RefKernels());
    for (const KernelTable* table : tables) {
      std::vector<float> gathered(kUsed * dim);
      table->gather_f16_rows(dim, rows.data(), dim, slots.data(), kUsed, gathered.data());
      for (int j = 0; j < kUsed; ++j)
        for (int i = 0; i < dim; ++i)
          ASSERT_EQ(gathered[j * dim + i], tensor::Fp16ToFp32(rows[slots[j] * dim + i])) << table->name;
    }
  }
}

}  // namespace kvfuse::kernels
