// One head's attention against a double-precision reference, with and without the
// reshaped context range (APE): tempered logits, the range's log-sum-exp scaled.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <numeric>
#include <string>

#include "kernel_test_util.h"
#include "kernels/attention.h"
#include "tensor/half.h"

namespace kvfuse::kernels {
namespace {

using namespace testing;

constexpr int kHeadDim = 16, kSlots = 24;

struct Head {
  std::vector<uint16_t> k, v;  // [kSlots, kHeadDim] f16
  std::vector<float> q;
};

Head RandomHead() {
  Head h;
  for (float x : RandomFloats(kSlots * kHeadDim, 1, 2.0f)) h.k.push_back(tensor::Fp32ToFp16(x));
  for (float x : RandomFloats(kSlots * kHeadDim, 2)) h.v.push_back(tensor::Fp32ToFp16(x));
  h.q = RandomFloats(kHeadDim, 3, 2.0f);
  return h;
}

// The definition, in double: logits l_j = scale q.k_j; inside [begin, end) l_j / T, shifted
// by (S - 1) * logsumexp of the range; softmax; the weighted sum of values.
std::vector<double> Reference(const Head& h, const int32_t* slots, int n, float scale, const ContextLogits* c) {
  std::vector<double> l(n);
  for (int j = 0; j < n; ++j) {
    double d = 0;
    for (int i = 0; i < kHeadDim; ++i) d += h.q[i] * tensor::Fp16ToFp32(h.k[slots[j] * kHeadDim + i]);
    l[j] = scale * d;
  }
  if (c) {
    double sum = 0;
    for (int j = c->begin; j < c->end; ++j) sum += std::exp(l[j] /= c->temperature);
    for (int j = c->begin; j < c->end; ++j) l[j] += (c->lse_scale - 1.0) * std::log(sum);
  }
  double total = 0;
  for (double x : l) total += std::exp(x);
  std::vector<double> out(kHeadDim, 0.0);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < kHeadDim; ++i) out[i] += std::exp(l[j]) / total * tensor::Fp16ToFp32(h.v[slots[j] * kHeadDim + i]);
  return out;
}

TEST(Attention, OneHeadMatchesDoubleWithAndWithoutAReshapedContext) {
  const Head h = RandomHead();
  std::vector<int32_t> slots(kSlots);
  std::iota(slots.rbegin(), slots.rend(), 0);  // visible positions read other slots
  const KvHeadView view{h.k.data(), h.v.data(), kHeadDim};
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  const ContextLogits contexts[] = {{4, 20, 1.0f, 1.0f}, {4, 20, 0.5f, 1.0f}, {4, 20, 1.0f, 0.7f},
                                    {4, 20, 0.8f, 1.3f}, {0, kSlots, 0.6f, 0.9f}};
  std::vector<const KernelTable*> tables = IsaTables();
  tables.push_back(&RefKernels());
  for (const KernelTable* table : tables) {
    std::vector<float> scores(kSlots), out(kHeadDim);
    AttendOneHead(*table, h.q.data(), kHeadDim, view, slots.data(), kSlots, {scale}, scores.data(), out.data());
    const std::vector<double> plain = Reference(h, slots.data(), kSlots, scale, nullptr);
    for (int i = 0; i < kHeadDim; ++i) EXPECT_NEAR(out[i], plain[i], 1e-4);
    for (const ContextLogits& c : contexts) {
      AttendOneHead(*table, h.q.data(), kHeadDim, view, slots.data(), kSlots, {scale}, scores.data(), out.data(), &c);
      const std::vector<double> want = Reference(h, slots.data(), kSlots, scale, &c);
      for (int i = 0; i < kHeadDim; ++i) EXPECT_NEAR(out[i], want[i], 1e-4) << c.temperature << " " << c.lse_scale;
    }
  }
  // At T = 1, S = 1 the logits are left as they are.
  std::vector<float> base(kSlots, 0.5f), same = base;
  ReshapeContextLogits({4, 20, 1.0f, 1.0f}, same.data(), kSlots);
  EXPECT_EQ(same, base);
}

TEST(Attention, AContextRangePastTheVisibleKeysIsClipped) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f};
  ReshapeContextLogits({2, 10, 0.5f, 1.0f}, logits.data(), 3);
  EXPECT_EQ(logits, (std::vector<float>{1.0f, 2.0f, 6.0f}));
  ReshapeContextLogits({5, 10, 0.5f, 1.0f}, logits.data(), 3);  // wholly past: nothing
  EXPECT_EQ(logits, (std::vector<float>{1.0f, 2.0f, 6.0f}));
}

// Random f16 keys (seed) and values (seed + 1) of n_keys slots of `dim`, and slots that are
// not in order (the first 10 ascending, the rest descending).
struct TiledKv {
  TiledKv(int n_keys, int dim, uint32_t seed) : dim(dim), slots(n_keys) {
    for (float x : RandomFloats(n_keys * dim, seed, 2.0f)) k_rows.push_back(tensor::Fp32ToFp16(x));
    for (float x : RandomFloats(n_keys * dim, seed + 1)) v_rows.push_back(tensor::Fp32ToFp16(x));
    std::iota(slots.begin(), slots.end(), 0);
    std::reverse(slots.begin() + 10, slots.end());
  }
  KvHeadView view() const { return {k_rows.data(), v_rows.data(), static_cast<size_t>(dim)}; }
  int dim;
  std::vector<uint16_t> k_rows, v_rows;
  std::vector<int32_t> slots;
};

// Rows of a KV group over a block of tokens, each seeing its own causal prefix of slots that
// are not in order, across several key tiles: each row equals AttendOneHead's on the same
// table, and the scalar table's double reference.
TEST(Attention, TiledRowsEqualOneHeadAtATimeAcrossTilesAndCausalLimits) {
  constexpr int kDim = 64, kKeys = 3 * kAttentionTile + 17, kTokens = 5, kGroup = 3;
  const TiledKv kv(kKeys, kDim, 11);
  const std::vector<int32_t>& slots = kv.slots;
  const KvHeadView view = kv.view();
  const float scale = 1.0f / std::sqrt(static_cast<float>(kDim));
  const std::vector<float> q = RandomFloats(kTokens * kGroup * kDim, 13, 3.0f);
  const int visible[kTokens] = {1, kAttentionTile, kAttentionTile + 1, 2 * kAttentionTile + 40, kKeys};
  std::vector<const KernelTable*> tables = IsaTables();
  tables.push_back(&RefKernels());
  for (const KernelTable* table : tables) {
    std::vector<float> tiled(q.size()), one(q.size()), scores(kKeys);
    std::vector<AttentionRow> rows;
    for (int t = 0; t < kTokens; ++t)
      for (int h = 0; h < kGroup; ++h) {
        const size_t at = static_cast<size_t>(t * kGroup + h) * kDim;
        rows.push_back({q.data() + at, tiled.data() + at, visible[t]});
        AttendOneHead(*table, q.data() + at, kDim, view, slots.data(), visible[t], {scale}, scores.data(), one.data() + at);
      }
    std::vector<float> blind(kDim, 1.0f);  // a row that sees no key: zero, as AttendOneHead gives
    rows.push_back({q.data(), blind.data(), 0});
    AttendRowsTiled(*table, rows.data(), static_cast<int>(rows.size()), kDim, view, slots.data(), {scale});
    for (size_t i = 0; i < q.size(); ++i) EXPECT_NEAR(tiled[i], one[i], 2e-5) << table->name << " " << i;
    EXPECT_EQ(blind, std::vector<float>(kDim, 0.0f)) << table->name;
  }
}

// A row's result does not depend on the rows that share its call (a decoded token's heads
// alone, or among a block of tokens), nor on whether its weights are recorded, on every
// table, with and without soft-capping, at widths that are and are not multiples of 8.
TEST(Attention, TiledRowsAloneAmongOthersAndRecordedBitForBit) {
  constexpr int kKeys = 3 * kAttentionTile + 17, kRows = 20;
  std::vector<const KernelTable*> tables = IsaTables();
  tables.push_back(&RefKernels());
  for (int dim : {36, 64, 128})
    for (float softcap : {0.0f, 1.5f}) {
      const TiledKv kv(kKeys, dim, 31);
      const LogitParams logit{1.0f / std::sqrt(static_cast<float>(dim)), softcap};
      const std::vector<float> q = RandomFloats(kRows * dim, 37, 3.0f);
      for (const KernelTable* table : tables) {
        const std::string what = std::string(table->name) + " dim " + std::to_string(dim) + " softcap " +
                                 std::to_string(softcap);
        std::vector<float> together(q.size()), alone(q.size()), recorded(q.size()), weights(kRows * kKeys);
        std::vector<AttentionRow> rows, recording;
        for (int r = 0; r < kRows; ++r) {
          const int n_visible = kKeys - 7 * r, first = r % 3 == 0 ? 5 * r : 0;
          rows.push_back({q.data() + r * dim, together.data() + r * dim, n_visible, first});
          recording.push_back({q.data() + r * dim, recorded.data() + r * dim, n_visible, first,
                               r % 2 == 0 ? weights.data() + r * kKeys : nullptr});
          AttentionRow row{q.data() + r * dim, alone.data() + r * dim, n_visible, first};
          AttendRowsTiled(*table, &row, 1, dim, kv.view(), kv.slots.data(), logit);
        }
        AttendRowsTiled(*table, rows.data(), kRows, dim, kv.view(), kv.slots.data(), logit);
        AttendRowsTiled(*table, recording.data(), kRows, dim, kv.view(), kv.slots.data(), logit);
        for (size_t i = 0; i < q.size(); ++i) {
          ASSERT_EQ(alone[i], together[i]) << what << " " << i;
          ASSERT_EQ(recorded[i], together[i]) << what << " " << i;
        }
      }
    }
}

// Sliding windows and soft-capped logits (Gemma 2): rows that see slots [first, n_visible),
// windows starting inside a tile, on a tile's edge and beyond the first tile, with logits
// capped at 2: each row, and the weights it hands back, equal a double softmax over its
// window written here, on every table.
TEST(Attention, TiledRowsHonourWindowsAndSoftCapping) {
  constexpr int kDim = 64, kKeys = 3 * kAttentionTile + 17;
  constexpr float kCap = 2.0f;
  const TiledKv kv(kKeys, kDim, 21);
  const std::vector<uint16_t>& k_rows = kv.k_rows;
  const std::vector<uint16_t>& v_rows = kv.v_rows;
  const std::vector<int32_t>& slots = kv.slots;
  const KvHeadView view = kv.view();
  const float scale = 1.0f / std::sqrt(static_cast<float>(kDim));
  struct Window {
    int first, n_visible;
  };
  const Window windows[] = {{0, 9}, {3, 11}, {kAttentionTile, kAttentionTile + 8}, {70, 2 * kAttentionTile + 5},
                            {2 * kAttentionTile - 1, kKeys}, {5, 5}};
  const int n_rows = static_cast<int>(std::size(windows));
  const std::vector<float> q = RandomFloats(n_rows * kDim, 23, 3.0f);
  std::vector<std::vector<double>> want(n_rows, std::vector<double>(kDim, 0.0)), want_weights(n_rows);
  for (int r = 0; r < n_rows; ++r) {
    std::vector<double> w;
    for (int j = windows[r].first; j < windows[r].n_visible; ++j) {
      double d = 0;
      for (int i = 0; i < kDim; ++i)
        d += static_cast<double>(q[r * kDim + i]) * tensor::Fp16ToFp32(k_rows[slots[j] * kDim + i]);
      w.push_back(kCap * std::tanh(d * scale / kCap));
    }
    double max = -1e300, sum = 0;
    for (double x : w) max = std::max(max, x);
    for (double& x : w) sum += (x = std::exp(x - max));
    for (size_t j = 0; j < w.size(); ++j) {
      want_weights[r].push_back(w[j] / sum);
      for (int i = 0; i < kDim; ++i)
        want[r][i] += w[j] / sum * tensor::Fp16ToFp32(v_rows[slots[windows[r].first + j] * kDim + i]);
    }
  }
  std::vector<const KernelTable*> tables = IsaTables();
  tables.push_back(&RefKernels());
  for (const KernelTable* table : tables) {
    std::vector<float> out(n_rows * kDim, 1.0f);
    std::vector<std::vector<float>> weights(n_rows);
    std::vector<AttentionRow> rows;
    float untouched = -1.0f;  // where the row that sees no key may not write
    for (int r = 0; r < n_rows; ++r) {
      weights[r].assign(want_weights[r].size(), -1.0f);
      float* w = weights[r].empty() ? &untouched : weights[r].data();
      rows.push_back({q.data() + r * kDim, out.data() + r * kDim, windows[r].n_visible, windows[r].first, w});
    }
    AttendRowsTiled(*table, rows.data(), n_rows, kDim, view, slots.data(), {scale, kCap});
    for (int r = 0; r < n_rows; ++r) {
      for (int i = 0; i < kDim; ++i) EXPECT_NEAR(out[r * kDim + i], want[r][i], 2e-5) << table->name << " row " << r;
      for (size_t j = 0; j < weights[r].size(); ++j)
        EXPECT_NEAR(weights[r][j], want_weights[r][j], 1e-6 + 1e-5 * want_weights[r][j]) << table->name << " row " << r;
    }
    EXPECT_EQ(untouched, -1.0f) << table->name;
  }
}

// A long row's weights (AttendOneHead's, for APE's reshaped rows), over several key tiles,
// with logits of a spread where many weights matter and soft-capped ones: they sum to 1 and
// equal a double softmax written here, on every table.
TEST(Attention, WeightsOfALongRowMatchDoubleAndSumToOne) {
  constexpr int kDim = 64, kKeys = 3 * kAttentionTile + 17;
  const TiledKv kv(kKeys, kDim, 41);
  const std::vector<float> q = RandomFloats(kDim, 43, 3.0f);
  for (const LogitParams logit : {LogitParams{0.5f, 0.0f}, LogitParams{0.125f, 2.0f}}) {
    std::vector<double> want(kKeys);
    double max = -1e300, sum = 0;
    for (int j = 0; j < kKeys; ++j) {
      double d = 0;
      for (int i = 0; i < kDim; ++i) d += static_cast<double>(q[i]) * tensor::Fp16ToFp32(kv.k_rows[kv.slots[j] * kDim + i]);
      want[j] = logit.softcap > 0 ? logit.softcap * std::tanh(d * logit.scale / logit.softcap) : d * logit.scale;
      max = std::max(max, want[j]);
    }
    for (double& w : want) sum += (w = std::exp(w - max));
    for (double& w : want) w /= sum;
    std::vector<const KernelTable*> tables = IsaTables();
    tables.push_back(&RefKernels());
    for (const KernelTable* table : tables) {
      std::vector<float> weights(kKeys);
      AttentionWeights(*table, q.data(), kDim, kv.view(), kv.slots.data(), kKeys, logit, weights.data());
      double total = 0;
      for (int j = 0; j < kKeys; ++j) {
        total += weights[j];
        EXPECT_NEAR(weights[j], want[j], 1e-4 * want[j] + 1e-9) << table->name << " key " << j << " scale " << logit.scale;
      }
      EXPECT_NEAR(total, 1.0, 1e-5) << table->name;
    }
  }
}

}  // namespace
}  // namespace kvfuse::kernels
