// The engine's paged KV: prompts share cached prefix blocks through the radix tree,
// only exactly computed KV is cached, blocks are evicted under pressure, and generation
// after a fused prefill continues the same sequence.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <random>

#include "engine/engine.h"
#include "tiny_engine.h"

namespace kvfuse::engine {

namespace {

std::unique_ptr<Engine> Load(int n_ctx) { return LoadTinyEngine(n_ctx); }
std::vector<int32_t> Tokens(int n, uint32_t seed) { return RandomTokens(n, seed); }

SegmentedPrompt Prompt(std::vector<int> chunk_seeds, uint32_t question) {
  SegmentedPrompt p;
  p.prefix = Tokens(20, 1);
  for (int s : chunk_seeds) p.chunks.push_back(Tokens(24, 50 + s));
  p.suffix = Tokens(6, question);
  return p;
}

double RelDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
    m = std::max(m, static_cast<double>(std::fabs(b[i])));
  }
  return d / m;
}

std::vector<float> Prefill(Engine& e, const SegmentedPrompt& p, FusionMode mode, FusionStats* out = nullptr) {
  std::vector<float> logits;
  FusionStats stats;
  const util::Status st = e.PrefillSegments(p, {mode}, logits, stats);
  EXPECT_TRUE(st.ok()) << st.message();
  if (out) *out = stats;
  return logits;
}

TEST(EngineSequences, DecodeBatchMatchesDecodingEachSequenceAlone) {
  // Reference: each sequence alone in its own engine, one token at a time.
  const std::vector<std::vector<int32_t>> prompts = {Tokens(40, 1), Tokens(23, 2), Tokens(57, 3)};
  const int n_vocab = Load(512)->hparams().n_vocab;
  std::vector<std::vector<float>> reference;  // per sequence, logits after each of 5 steps
  for (const auto& p : prompts) {
    auto e = Load(512);
    std::vector<float> logits;
    ASSERT_TRUE(e->Evaluate(p, 0, false, logits).ok());
    std::vector<float> all;
    for (int step = 0; step < 5; ++step) {
      ASSERT_TRUE(e->Evaluate({7 + step}, static_cast<int32_t>(p.size()) + step, false, logits).ok());
      all.insert(all.end(), logits.begin(), logits.end());
    }
    reference.push_back(all);
  }
  // Together: three live sequences (ids 4, 9, 2), advanced by one batch per step.
  auto e = Load(512);
  const std::vector<int32_t> ids = {4, 9, 2};
  std::vector<float> logits;
  for (size_t i = 0; i < prompts.size(); ++i)
    ASSERT_TRUE(e->Evaluate(prompts[i], 0, false, logits, 512, ids[i]).ok());
  for (int step = 0; step < 5; ++step) {
    ASSERT_TRUE(e->DecodeBatch(ids, {7 + step, 7 + step, 7 + step}, logits).ok());
    ASSERT_EQ(logits.size(), 3u * n_vocab);
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(e->sequence_length(ids[i]), static_cast<int32_t>(prompts[i].size()) + step + 1);
      for (int v = 0; v < n_vocab; v += 97)
        EXPECT_NEAR(logits[i * n_vocab + v], reference[i][step * n_vocab + v], 1e-3) << "seq " << i << " step " << step;
    }
  }
  const int32_t free_before = e->block_pool().n_free();
  e->Release(9);
  EXPECT_GT(e->block_pool().n_free(), free_before);
  EXPECT_EQ(e->sequence_length(9), 0);
}

TEST(EngineSequences, ReserveForDecodeReportsTheFirstSequenceWithoutRoom) {
  auto e = Load(64);  // 4 blocks of 16
  std::vector<float> logits;
  ASSERT_TRUE(e->Evaluate(Tokens(32, 1), 0, false, logits, 512, 0).ok());  // 2 full blocks
  ASSERT_TRUE(e->Evaluate(Tokens(32, 2), 0, false, logits, 512, 1).ok());  // 2 full blocks
  EXPECT_EQ(e->ReserveForDecode({0, 1}), 0);  // each needs a fifth block
  EXPECT_FALSE(e->DecodeBatch({0, 1}, {5, 5}, logits).ok());
  e->Release(0);
  EXPECT_EQ(e->ReserveForDecode({1}), -1);
  EXPECT_TRUE(e->DecodeBatch({1}, {5}, logits).ok());
}

}  // namespace

TEST(Engine, PrefixModeReusesCachedBlocksAndEqualsFull) {
  auto e = Load(512);
  const SegmentedPrompt first = Prompt({1, 2}, 7), second = Prompt({1, 3}, 8);  // share 44 tokens
  Prefill(*e, first, FusionMode::kFull);
  EXPECT_EQ(e->cached_prefix_blocks(), (20 + 48 + 6) / 16);
  FusionStats stats;
  const std::vector<float> reused = Prefill(*e, second, FusionMode::kPrefix, &stats);
  EXPECT_EQ(stats.prefix_reused, 32);  // whole blocks of the shared 44 tokens
  e->ClearPrefixCache();
  const std::vector<float> full = Prefill(*e, second, FusionMode::kFull, &stats);
  EXPECT_EQ(stats.prefix_reused, 0);
  EXPECT_LE(RelDiff(reused, full), 1e-4);
}

TEST(Engine, APromptPrefilledInPiecesIsOfferedToThePrefixCache) {
  // How the scheduler prefills a long plain prompt: a first piece through PrefillSegments,
  // the rest appended with Evaluate, then CachePrefix.
  auto e = Load(512);
  const std::vector<int32_t> tokens = Tokens(70, 4);
  SegmentedPrompt first;
  first.prefix.assign(tokens.begin(), tokens.begin() + 20);
  std::vector<float> logits;
  FusionStats stats;
  ASSERT_TRUE(e->PrefillSegments(first, {FusionMode::kPrefix}, logits, stats, 3).ok());
  ASSERT_TRUE(e->Evaluate({tokens.begin() + 20, tokens.end()}, 20, false, logits, 512, 3).ok());
  EXPECT_EQ(e->CachedPrefixLength(tokens), 16);  // the first piece's whole block
  e->CachePrefix(3, tokens);
  EXPECT_EQ(e->CachedPrefixLength(tokens), 64);  // every whole block of the prompt
  e->Release(3);
  SegmentedPrompt whole;
  whole.prefix = tokens;
  const std::vector<float> reused = Prefill(*e, whole, FusionMode::kPrefix, &stats);
  EXPECT_EQ(stats.prefix_reused, 64);
  e->ClearPrefixCache();
  EXPECT_EQ(e->CachedPrefixLength(tokens), 0);
  EXPECT_LE(RelDiff(reused, Prefill(*e, whole, FusionMode::kFull)), 1e-4);
}

TEST(Engine, OnlyExactlyComputedKvIsCached) {
  auto e = Load(512);
  const SegmentedPrompt p = Prompt({1, 2}, 7);
  Prefill(*e, p, FusionMode::kNaive);
  EXPECT_EQ(e->cached_prefix_blocks(), 1);  // the 20-token prefix holds one whole block
  FusionStats stats;
  const std::vector<float> prefix = Prefill(*e, p, FusionMode::kPrefix, &stats);
  EXPECT_EQ(stats.prefix_reused, 16);
  e->ClearPrefixCache();
  EXPECT_LE(RelDiff(prefix, Prefill(*e, p, FusionMode::kFull)), 1e-4);
}

TEST(Engine, CachedBlocksAreEvictedWhenTheCacheIsFull) {
  auto e = Load(96);  // 6 blocks: one 80-token prompt plus little else
  for (uint32_t q = 0; q < 5; ++q) {
    SegmentedPrompt p;
    p.prefix = Tokens(70, 100 + q);  // nothing shared between prompts
    p.suffix = Tokens(10, q);
    Prefill(*e, p, FusionMode::kFull);
  }
  EXPECT_LE(e->cached_prefix_blocks(), 6);
  SegmentedPrompt too_long;
  too_long.prefix = Tokens(100, 1);
  std::vector<float> logits;
  FusionStats stats;
  EXPECT_FALSE(e->PrefillSegments(too_long, {FusionMode::kFull}, logits, stats).ok());
}

TEST(Engine, GenerationContinuesAFusedPrefill) {
  auto e = Load(512);
  const SegmentedPrompt p = Prompt({1, 2}, 7);
  Prefill(*e, p, FusionMode::kFull);
  std::vector<float> next;
  ASSERT_TRUE(e->Evaluate({42}, p.size(), false, next).ok());
  EXPECT_EQ(e->sequence_length(), p.size() + 1);
  std::vector<int32_t> all = p.Flatten();
  all.push_back(42);
  std::vector<float> reference;
  ASSERT_TRUE(e->Evaluate(all, 0, false, reference).ok());
  EXPECT_LE(RelDiff(next, reference), 1e-4);
  // Append only: a gap or a rewrite is refused.
  EXPECT_FALSE(e->Evaluate({1}, 3, false, next).ok());
  EXPECT_FALSE(e->Evaluate({1}, e->sequence_length() + 1, false, next).ok());
}

}  // namespace kvfuse::engine

namespace kvfuse::engine {

TEST(Engine, PromptsThatFillTheCacheWithGenerationSucceedRepeatedly) {
  auto e = Load(100);  // 7 blocks
  for (uint32_t q = 0; q < 3; ++q) {
    SegmentedPrompt p;
    p.prefix = Tokens(75, 100 + q);
    p.suffix = Tokens(5, q);
    Prefill(*e, p, FusionMode::kFull);
    std::vector<float> logits;
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(e->Evaluate({7}, p.size() + i, false, logits).ok()) << q << " " << i;
  }
}

}  // namespace kvfuse::engine
