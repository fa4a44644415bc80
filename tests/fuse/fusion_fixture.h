// Shared by the fusion tests: small random models, prompts of random tokens, a fuser over a
// KV manager whose sequence 0 keeps position p in slot 255 - p, and logit comparisons.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "fuse/chunk_fuser.h"
#include "model_gen/test_model_file.h"

namespace kvfuse::fuse {

inline std::string ModelPath(const std::string& shape, const std::string& type) {
  auto path = tools::TestModelFile(shape, type, 11);
  EXPECT_TRUE(path.ok()) << path.status().message();
  return path.ok() ? path.value() : "";
}

inline std::vector<int32_t> Tokens(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = 3 + static_cast<int32_t>(rng() % 1000);
  return t;
}

inline SegmentedPrompt MakePrompt(const std::vector<int>& chunk_seeds, uint32_t question_seed) {
  SegmentedPrompt p;
  p.prefix = Tokens(6, 1);
  p.prefix[0] = 1;  // BOS
  for (int s : chunk_seeds) p.chunks.push_back(Tokens(12, 100 + s));
  p.suffix = Tokens(5, question_seed);
  return p;
}

inline double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  return d;
}

inline double MaxAbs(const std::vector<float>& a) {
  double m = 0;
  for (float x : a) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// Layer `layer`'s key row of a cache slot (every KV head's, in order), as f16 bits.
inline std::vector<uint16_t> KeyRow(const kv::KvCache& cache, int layer, int32_t slot) {
  const kv::KvGeometry& g = cache.geometry();
  std::vector<uint16_t> row;
  for (int h = 0; h < g.n_kv_heads; ++h) {
    const uint16_t* k = cache.k(layer, h, slot);
    row.insert(row.end(), k, k + g.head_dim);
  }
  return row;
}

struct Fixture {
  explicit Fixture(const std::string& shape = "tiny", const std::string& type = "f32",
                   const std::string& store_dir = "")
      : model(std::move(model::Model::Open(ModelPath(shape, type))).value()),
        ctx(2),
        kv(model->kv_geometry(), 256, 1),
        store(1 << 26, store_dir.empty() ? std::nullopt : std::optional<store::DiskTier>(std::move(store::DiskTier::Open(store_dir)).value())),
        fuser(*model, store, FuserIdentity{1, 2, {1}}) {
    // Position p of sequence 0 lives in slot 255 - p, so that nothing depends on slot ==
    // position: a sequence that took every block in order gives them back, and the pool
    // hands out the last freed first.
    EXPECT_TRUE(kv.Reserve(1, 256).ok());
    kv.Release(1);
    EXPECT_TRUE(kv.Reserve(0, 256).ok());
    EXPECT_EQ(kv.SlotOf(0, 0), 255);
    EXPECT_EQ(kv.SlotOf(0, 255), 0);
  }

  util::Status Prefill(const SegmentedPrompt& p, const FusionOptions& o, std::vector<float>& logits,
                       FusionStats& stats, int32_t kept = 0) {
    return fuser.Prefill(ctx, kv, 0, kept, p, o, logits, stats);
  }

  std::vector<float> Run(const SegmentedPrompt& p, FusionMode mode, float ratio = 0.15f, FusionStats* out = nullptr,
                         int32_t kept = 0) {
    return RunWith(p, FusionOptions{mode, ratio}, out, kept);
  }

  std::vector<float> RunWith(const SegmentedPrompt& p, const FusionOptions& options, FusionStats* out = nullptr,
                             int32_t kept = 0) {
    std::vector<float> logits;
    FusionStats stats;
    const util::Status st = Prefill(p, options, logits, stats, kept);
    EXPECT_TRUE(st.ok()) << st.message();
    if (out) *out = stats;
    return logits;
  }

  // Layer `layer`'s key of prompt position `pos` as it is now in the cache (f16 bits).
  std::vector<uint16_t> KeyAt(int layer, int32_t pos) const { return KeyRow(kv.cache(), layer, kv.SlotOf(0, pos)); }

  std::unique_ptr<model::Model> model;
  model::ForwardContext ctx;
  kv::KvManager kv;  // block size 1
  store::ChunkStore store;
  ChunkFuser fuser;
};

// Logits agree within what different batch shapes (GEMM tiles vs single-row dots) allow.
constexpr double kSameAsFull = 1e-3;

}  // namespace kvfuse::fuse
