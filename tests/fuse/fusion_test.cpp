// The invariants of chunk-cache fusion on small random models, against a full prefill:
// prefix reuse equals full, blend at r = 1 equals full, re-rotated keys equal keys
// computed at the new position, chunks survive the disk bit for bit, and a corrupt chunk
// file is recomputed instead of served.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "fuse/key_placement.h"
#include "fusion_fixture.h"
#include "tensor/half.h"

namespace kvfuse::fuse {

TEST(Fusion, PrefixEqualsFull) {
  for (const char* shape : {"tiny", "tiny-qwen2", "tiny-qwen3", "tiny-llama3", "tiny-phi3", "tiny-gemma2", "tiny-gemma3"}) {
    Fixture f(shape);
    const SegmentedPrompt first = MakePrompt({1, 2, 3}, 7);
    SegmentedPrompt second = MakePrompt({1, 2, 4}, 8);  // shares prefix + two chunks
    const std::vector<float> full = f.Run(second, FusionMode::kFull);
    f.Run(first, FusionMode::kFull);
    FusionStats stats;
    // The caller (the engine's prefix tree) vouches that the first 30 positions hold
    // exactly this prompt's KV: the first prompt left them there.
    const std::vector<float> prefix = f.Run(second, FusionMode::kPrefix, 0, &stats, 30);
    EXPECT_EQ(stats.prefix_reused, 6 + 24);
    EXPECT_EQ(stats.tokens_computed, second.size() - 30);
    EXPECT_LE(MaxAbsDiff(prefix, full), kSameAsFull * MaxAbs(full)) << shape;
  }
}

TEST(Fusion, BlendAtRatioOneEqualsFull) {
  for (const char* shape : {"tiny", "tiny-qwen2", "tiny-qwen3", "tiny-llama3", "tiny-deep", "tiny-phi3", "tiny-gemma2",
                            "tiny-gemma3"}) {
    Fixture f(shape);
    const SegmentedPrompt p = MakePrompt({5, 6, 7}, 9);
    const std::vector<float> full = f.Run(p, FusionMode::kFull);
    FusionStats stats;
    const std::vector<float> blend = f.Run(p, FusionMode::kBlend, 1.0f, &stats);
    EXPECT_EQ(stats.chunk_tokens, 36);
    EXPECT_EQ(stats.chunk_tokens_recomputed, 36);
    EXPECT_EQ(stats.chunk_misses, 3);
    EXPECT_LE(MaxAbsDiff(blend, full), kSameAsFull * MaxAbs(full)) << shape;
  }
}

TEST(Fusion, BottomRightMaskEqualsCausalAtRatioOneAndDiffersBelow) {
  Fixture f("tiny-deep");  // the mask reaches the logits only through layers >= 2
  const SegmentedPrompt p = MakePrompt({5, 6, 7}, 9);
  const std::vector<float> full = f.Run(p, FusionMode::kFull);
  auto run = [&](float ratio, bool bottom_right) {
    std::vector<float> logits;
    FusionStats stats;
    FusionOptions o{FusionMode::kBlend, ratio, bottom_right};
    EXPECT_TRUE(f.Prefill(p, o, logits, stats).ok());
    return logits;
  };
  // Every token after the prefix is recomputed: the bottom-right corner is the diagonal.
  EXPECT_LE(MaxAbsDiff(run(1.0f, true), full), kSameAsFull * MaxAbs(full));
  // A subset sees later tokens under the approximation.
  EXPECT_GT(MaxAbsDiff(run(0.3f, true), run(0.3f, false)), 1e-6 * MaxAbs(full));
}

TEST(Fusion, ReuseWithoutRecomputeDiffersAndBlendRecomputesTheRequestedShare) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  const std::vector<float> full = f.Run(p, FusionMode::kFull);
  const std::vector<float> naive = f.Run(p, FusionMode::kNaive);
  // Chunks 2 and 3 were computed without the chunks before them: the logits must move.
  EXPECT_GT(MaxAbsDiff(naive, full), kSameAsFull * MaxAbs(full));
  FusionStats stats;
  f.Run(p, FusionMode::kBlend, 0.25f, &stats);
  EXPECT_EQ(stats.chunk_hits, 3);
  EXPECT_EQ(stats.chunk_misses, 0);
  EXPECT_EQ(stats.chunk_tokens_recomputed, 9);  // ceil(0.25 * 36)
  EXPECT_EQ(stats.prefix_reused, 0);
}

TEST(Fusion, ChunkAloneInFrontEqualsFullUnderNaiveReuse) {
  // A single chunk right after a prefix of just the chunk head sits exactly where it
  // was computed: naive reuse must then reproduce the full prefill.
  // The windowed families too: the chunk (20 tokens) outgrows their 8-token windows.
  for (const char* shape : {"tiny", "tiny-phi3", "tiny-gemma2", "tiny-gemma3"}) {
    Fixture f(shape);
    SegmentedPrompt p;
    p.prefix = {1};
    p.chunks = {Tokens(20, 3)};
    p.suffix = Tokens(4, 4);
    const std::vector<float> full = f.Run(p, FusionMode::kFull);
    const std::vector<float> naive = f.Run(p, FusionMode::kNaive);
    EXPECT_LE(MaxAbsDiff(naive, full), kSameAsFull * MaxAbs(full)) << shape;
  }
}

TEST(Fusion, AdaptiveReusesAChunkInTheContextItWasCachedInAsIs) {
  Fixture f("tiny-deep");
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  FusionOptions record{FusionMode::kFull};
  record.record_chunks = true;
  std::vector<float> full, adaptive;
  FusionStats stats;
  ASSERT_TRUE(f.Prefill(p, record, full, stats).ok());
  // The stored variants carry their context: chunk i saw chunks 0..i-1.
  for (size_t i = 0; i < 3; ++i) {
    auto rec = f.fuser.GetOrCompute(f.ctx, p.chunks[i], stats);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ((*rec)->context_chunks.size(), i);
    EXPECT_EQ((*rec)->token_scores.size(), p.chunks[i].size());
    if (i > 0) {
      EXPECT_GT((*rec)->cci, 0.5f);
    }
  }
  ASSERT_TRUE(f.Prefill(p, {FusionMode::kAdaptive}, adaptive, stats).ok());
  EXPECT_EQ(stats.chunk_tokens_recomputed, 0);  // same neighbours, same order: nothing to fix
  EXPECT_LE(MaxAbsDiff(adaptive, full), kSameAsFull * MaxAbs(full));
}

TEST(Fusion, AdaptiveRecomputesChunksWhoseContextChanged) {
  Fixture f("tiny-deep");
  FusionOptions record{FusionMode::kFull};
  record.record_chunks = true;
  std::vector<float> logits;
  FusionStats stats;
  ASSERT_TRUE(f.Prefill(MakePrompt({1, 2, 3}, 9), record, logits, stats).ok());
  // Reversed: chunks 3 and 2 lost the neighbours they were cached after; chunk 1 had none.
  const SegmentedPrompt reversed = MakePrompt({3, 2, 1}, 9);
  FusionOptions adaptive{FusionMode::kAdaptive};
  adaptive.adaptive_alpha = 1000.0f;  // any change in context means a full recompute
  ASSERT_TRUE(f.Prefill(reversed, adaptive, logits, stats).ok());
  EXPECT_EQ(stats.chunk_tokens_recomputed, 24);
  adaptive.adaptive_alpha = 0.5f;
  ASSERT_TRUE(f.Prefill(reversed, adaptive, logits, stats).ok());
  EXPECT_GT(stats.chunk_tokens_recomputed, 0);
  EXPECT_LT(stats.chunk_tokens_recomputed, 24);
}

TEST(Fusion, AdaptiveOnChunksCachedAloneIsNaive) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  const std::vector<float> naive = f.Run(p, FusionMode::kNaive);
  FusionStats stats;
  const std::vector<float> adaptive = f.Run(p, FusionMode::kAdaptive, 0.15f, &stats);
  EXPECT_EQ(stats.chunk_tokens_recomputed, 0);
  EXPECT_EQ(adaptive, naive);
}

TEST(Fusion, ReRotatedKeysEqualKeysComputedAtTheNewPosition) {
  for (const char* shape : {"tiny", "tiny-qwen2", "tiny-qwen3", "tiny-llama3", "tiny-phi3", "tiny-gemma2", "tiny-gemma3"}) {
    Fixture f(shape);
    const std::vector<int32_t> chunk = Tokens(10, 5);
    FusionStats stats;
    auto rec = f.fuser.GetOrCompute(f.ctx, chunk, stats);
    ASSERT_TRUE(rec.ok());
    // Place the chunk behind the same head at offset 1: that is where it was computed,
    // so the placed keys (rotated by -1 then by +1) must equal the fresh ones.
    SegmentedPrompt p;
    p.prefix = {1};
    p.chunks = {chunk};
    p.suffix = {7};
    f.Run(p, FusionMode::kNaive);
    kv::KvManager fresh(f.model->kv_geometry(), 64, 16);
    ASSERT_TRUE(fresh.Reserve(0, 11).ok());  // its first block: slot == position
    model::TokenBatch b;
    for (int i = 0; i < 11; ++i) b.Add(i == 0 ? 1 : chunk[i - 1], i, 0, i, false);
    std::vector<float> logits;
    ASSERT_TRUE(f.model->Forward(f.ctx, b, fresh, logits).ok());
    const int row = f.model->kv_geometry().row_elements();
    for (int l = 0; l < f.model->hparams().n_layers; ++l) {
      for (int s = 1; s < 11; ++s) {
        const std::vector<uint16_t> fresh_key = KeyRow(fresh.cache(), l, s), moved = KeyRow(f.kv.cache(), l, 255 - s);
        for (int i = 0; i < row; ++i) {
          const float want = tensor::Fp16ToFp32(fresh_key[i]);
          const float got = tensor::Fp16ToFp32(moved[i]);
          ASSERT_NEAR(got, want, 4e-3f * (1.0f + std::fabs(want))) << shape << " layer " << l << " slot " << s;
        }
      }
    }
  }
}

// Placed at another offset than the one it was computed at: layer 0's keys depend on the token
// alone, so there the moved keys must equal keys computed at the new positions (at the
// offset it was computed at, moving back and forth would cancel any error of the rotation).
TEST(Fusion, KeysMovedToAnotherOffsetEqualKeysComputedThere) {
  for (const char* shape : {"tiny", "tiny-qwen2", "tiny-qwen3", "tiny-llama3", "tiny-phi3", "tiny-gemma2", "tiny-gemma3"}) {
    Fixture f(shape);
    const std::vector<int32_t> chunk = Tokens(10, 5);
    SegmentedPrompt p;
    p.prefix = Tokens(23, 3);
    p.chunks = {chunk};
    p.suffix = {7};
    f.Run(p, FusionMode::kNaive);
    const int offset = static_cast<int>(p.prefix.size());
    kv::KvManager fresh(f.model->kv_geometry(), 64, 16);
    ASSERT_TRUE(fresh.Reserve(0, offset + 10).ok());  // its first blocks: slot == position
    model::TokenBatch b;
    for (int i = 0; i < offset + 10; ++i) b.Add(i < offset ? p.prefix[i] : chunk[i - offset], i, 0, i, false);
    std::vector<float> logits;
    ASSERT_TRUE(f.model->Forward(f.ctx, b, fresh, logits).ok());
    const int row = f.model->kv_geometry().row_elements();
    for (int s = offset; s < offset + 10; ++s) {
      const std::vector<uint16_t> fresh_key = KeyRow(fresh.cache(), 0, s), moved = KeyRow(f.kv.cache(), 0, 255 - s);
      for (int i = 0; i < row; ++i) {
        const float want = tensor::Fp16ToFp32(fresh_key[i]);
        const float got = tensor::Fp16ToFp32(moved[i]);
        ASSERT_NEAR(got, want, 4e-3f * (1.0f + std::fabs(want))) << shape << " position " << s;
      }
    }
  }
}

// Every layer's keys placed at an offset from a record equal the keys that layer computes at
// the new positions from the same input. Only layer 0's input is context-free in a real
// prompt, so this drives each layer's K projection with one random input: gemma3's sliding
// layers rotate with their own RoPE base, its global ones with linear scaling.
TEST(Fusion, EveryLayersPlacedKeysEqualKeysComputedAtTheirPositions) {
  for (const char* shape : {"tiny-llama3", "tiny-gemma3"}) {
    Fixture f(shape);
    const model::HParams& hp = f.model->hparams();
    constexpr int kTokens = 6, kOffset = 37;
    std::vector<float> hidden(static_cast<size_t>(kTokens) * hp.n_embd);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    for (float& x : hidden) x = normal(rng);
    const auto keys_at = [&](int first_position, int layer) {
      model::TokenBatch b;
      for (int j = 0; j < kTokens; ++j) b.Add(1, first_position + j, 0, j, false);
      std::vector<float> k, v;
      f.model->ProjectKv(f.ctx, b, layer, hidden.data(), k, v);
      return k;
    };
    const int row = f.model->kv_geometry().row_elements();
    store::ChunkRecord record;
    record.Resize({static_cast<uint32_t>(hp.n_layers), static_cast<uint32_t>(row * sizeof(uint16_t))},
                  std::vector<int32_t>(kTokens, 1));
    for (int l = 0; l < hp.n_layers; ++l) {
      const std::vector<float> k = keys_at(0, l);
      for (int j = 0; j < kTokens; ++j)
        for (int i = 0; i < row; ++i)
          reinterpret_cast<uint16_t*>(record.k_row(l, j))[i] = tensor::Fp32ToFp16(k[j * row + i]);
    }
    fuse::Place(hp, f.ctx, record, f.kv.cache(), f.kv.SlotsOf(0, kOffset + kTokens), kOffset);
    for (int l = 0; l < hp.n_layers; ++l) {
      const std::vector<float> want = keys_at(kOffset, l);
      for (int j = 0; j < kTokens; ++j) {
        const std::vector<uint16_t> placed = f.KeyAt(l, kOffset + j);
        for (int i = 0; i < row; ++i) {
          const float got = tensor::Fp16ToFp32(placed[i]);
          ASSERT_NEAR(got, want[j * row + i], 4e-3f * (1.0f + std::fabs(want[j * row + i])))
              << shape << " layer " << l << " token " << j;
        }
      }
    }
  }
}

TEST(Fusion, ChunkFromDiskIsBitIdenticalAndCorruptFilesAreRecomputed) {
  const std::string dir = std::string(KVFUSE_TEST_TMP) + "/fuse-store-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  const SegmentedPrompt p = MakePrompt({1, 2}, 3);
  std::vector<float> first;
  std::shared_ptr<const store::ChunkRecord> in_ram;
  {
    Fixture f("tiny", "q8_0", dir);
    first = f.Run(p, FusionMode::kBlend);
    FusionStats stats;
    in_ram = std::move(f.fuser.GetOrCompute(f.ctx, p.chunks[0], stats)).value();
  }
  {
    Fixture f("tiny", "q8_0", dir);  // a new process: empty RAM, same disk
    FusionStats stats;
    auto from_disk = f.fuser.GetOrCompute(f.ctx, p.chunks[0], stats);
    ASSERT_TRUE(from_disk.ok());
    EXPECT_EQ(stats.chunk_hits, 1);
    EXPECT_EQ((*from_disk)->k, in_ram->k);
    EXPECT_EQ((*from_disk)->v, in_ram->v);
    f.store.DropRam();
    EXPECT_EQ(f.Run(p, FusionMode::kBlend), first);
  }
  {
    Fixture f("tiny", "q8_0", dir);
    // Corrupt one byte of K/V of the second chunk's file.
    const std::string path = dir + "/" + [&] {
      char name[32];
      std::snprintf(name, sizeof(name), "%016llx.kvc", static_cast<unsigned long long>(f.fuser.ChunkKey(p.chunks[1])));
      return std::string(name);
    }();
    ASSERT_TRUE(std::filesystem::exists(path));
    {
      std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
      file.seekp(200);
      file.put('\x7f');
    }
    FusionStats stats;
    const std::vector<float> again = f.Run(p, FusionMode::kBlend, 0.15f, &stats);
    EXPECT_EQ(f.store.stats().corrupt, 1u);
    EXPECT_EQ(stats.chunk_misses, 1);
    EXPECT_EQ(again, first);
  }
}

TEST(Fusion, BadPromptsAreErrors) {
  Fixture f;
  std::vector<float> logits;
  FusionStats stats;
  SegmentedPrompt empty;
  EXPECT_FALSE(f.Prefill(empty, {}, logits, stats).ok());
  SegmentedPrompt no_question = MakePrompt({1}, 2);
  no_question.suffix.clear();
  EXPECT_FALSE(f.Prefill(no_question, {FusionMode::kBlend}, logits, stats).ok());
  SegmentedPrompt too_long;
  too_long.prefix = Tokens(300, 1);
  too_long.suffix = {5};
  EXPECT_FALSE(f.Prefill(too_long, {FusionMode::kFull}, logits, stats).ok());
  SegmentedPrompt bad_token = MakePrompt({1}, 2);
  bad_token.chunks[0][3] = 1 << 30;
  EXPECT_FALSE(f.Prefill(bad_token, {FusionMode::kBlend}, logits, stats).ok());
  EXPECT_FALSE(f.Prefill(MakePrompt({1}, 2), {FusionMode::kBlend, 1.5f}, logits, stats).ok());
  // Blend may keep at most the prefix segment, full nothing.
  EXPECT_FALSE(f.Prefill(MakePrompt({1}, 2), {FusionMode::kBlend}, logits, stats, 10).ok());
  EXPECT_FALSE(f.Prefill(MakePrompt({1}, 2), {FusionMode::kFull}, logits, stats, 1).ok());
}

// A stepped prefill is told of each chunk's placement, and of its cost, before it happens
// (model::LayerGate::BeforeWork), so that placing cached chunks falls within steps' budgets.
class RecordingGate final : public model::LayerGate {
 public:
  int32_t BeforeLayer(int32_t n_tokens, bool) override {
    events.push_back(-1);
    return n_tokens;
  }
  void BeforeWork(int64_t token_layers) override { events.push_back(token_layers); }
  std::vector<int64_t> events;  // a layer: -1
};

TEST(Fusion, EachChunksPlacementPassesTheLayerGateFirst) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  f.Run(p, FusionMode::kNaive);  // every chunk computed and stored
  RecordingGate gate;
  f.ctx.layer_gate = &gate;
  f.Run(p, FusionMode::kNaive);
  f.ctx.layer_gate = nullptr;
  std::vector<int64_t> work;
  for (int64_t e : gate.events)
    if (e >= 0) work.push_back(e);
  ASSERT_EQ(work.size(), p.chunks.size());
  for (size_t i = 0; i < p.chunks.size(); ++i)
    EXPECT_EQ(work[i], PlacementTokenLayers(static_cast<int64_t>(p.chunks[i].size()), f.model->hparams().n_layers));
  EXPECT_EQ(gate.events.back(), -1) << "the question's layers run after the placements";
}

}  // namespace kvfuse::fuse
