// A prefill run in budgeted steps, with another sequence decoded between them, against the
// same prefill run whole on a second engine: the same logits bit for bit, the same
// statistics, the decode between steps unchanged, no step over its budget; and a prefill
// abandoned half-way leaves nothing behind.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "tiny_engine.h"

namespace kvfuse::engine {
namespace {

// Two layers, so a budget of 40 tokens is 80 token-layers: more than any one layer of the
// batches below (74 tokens at most). A budget of 9 is 18 token-layers: most layers run in
// pieces. Either way every step has room for the smallest piece, so none overruns.
constexpr int32_t kBudgets[] = {40, 9};

SegmentedPrompt Prompt() {
  SegmentedPrompt p;
  p.prefix = RandomTokens(20, 1);
  p.chunks = {RandomTokens(24, 51), RandomTokens(24, 52)};
  p.suffix = RandomTokens(6, 9);
  return p;
}

// Sequence 1 holds a plain prompt, to be decoded while sequence 0 prefills.
void StartOther(Engine& e) {
  std::vector<float> logits;
  ASSERT_TRUE(e.Evaluate(RandomTokens(10, 7), 0, false, logits, 512, 1).ok());
}

std::vector<float> DecodeOther(Engine& e) {
  std::vector<float> logits;
  EXPECT_TRUE(e.DecodeBatch({1}, {42}, logits).ok());
  return logits;
}

void ExpectStepsEqualTheWholePrefill(FusionMode mode, int32_t budget) {
  SCOPED_TRACE(std::string(FusionModeName(mode)) + ", budget " + std::to_string(budget));
  auto whole = LoadTinyEngine(512), stepped = LoadTinyEngine(512);
  ASSERT_TRUE(whole && stepped);
  FusionOptions options;
  options.mode = mode;
  const SegmentedPrompt prompt = Prompt();
  for (Engine* e : {whole.get(), stepped.get()}) {
    ASSERT_TRUE(e->WarmChunk(prompt.chunks[0]).ok());  // one chunk cached, one to compute
    StartOther(*e);
  }
  std::vector<float> expected;
  FusionStats expected_stats;
  ASSERT_TRUE(whole->PrefillSegments(prompt, options, expected, expected_stats).ok());
  const std::vector<float> expected_decode = DecodeOther(*whole);

  auto steps = stepped->StartPrefill(prompt, options);
  int n_steps = 0;
  std::vector<float> decoded;
  while (!steps->done()) {
    const util::Result<int32_t> cost = steps->Step(budget, true);
    ASSERT_TRUE(cost.ok()) << cost.status().message();
    EXPECT_LE(cost.value(), budget);
    if (++n_steps == 1) decoded = DecodeOther(*stepped);  // in the middle of the prefill
  }
  EXPECT_GE(n_steps, 2) << "the prefill was not divided";
  EXPECT_EQ(steps->logits(), expected);
  EXPECT_EQ(decoded, expected_decode) << "the decode between steps saw the prefill's state";
  EXPECT_EQ(steps->stats().chunk_hits, expected_stats.chunk_hits);
  EXPECT_EQ(steps->stats().chunk_misses, expected_stats.chunk_misses);
  EXPECT_EQ(steps->stats().tokens_computed, expected_stats.tokens_computed);
  EXPECT_EQ(steps->stats().chunk_tokens_recomputed, expected_stats.chunk_tokens_recomputed);
}

TEST(SteppedPrefill, EqualsTheWholePrefillWithDecodesBetweenItsSteps) {
  for (FusionMode mode : {FusionMode::kFull, FusionMode::kNaive, FusionMode::kBlend, FusionMode::kGradual,
                          FusionMode::kSinks, FusionMode::kQuery, FusionMode::kApe})
    for (int32_t budget : kBudgets) ExpectStepsEqualTheWholePrefill(mode, budget);
}

// Costs are whole tokens of work: token-layers over the 2 layers, rounded up.
TEST(SteppedPrefill, StepsFillTheirBudgetWithPiecesOfALayer) {
  auto e = LoadTinyEngine(512);
  ASSERT_TRUE(e);
  FusionOptions options;
  options.mode = FusionMode::kFull;  // one batch of 74 tokens through 2 layers: 148 token-layers
  auto steps = e->StartPrefill(Prompt(), options);
  util::Result<int32_t> cost = steps->Step(10, /*first=*/false);
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(cost.value(), 10) << "20 of the first layer's 74 tokens fill the step";
  cost = steps->Step(7, /*first=*/false);
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(cost.value(), 0) << "a later step ran a piece smaller than the smallest worth running";
  cost = steps->Step(7, /*first=*/true);
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(cost.value(), 8) << "the iteration's first step runs the smallest piece, 16 tokens";
  cost = steps->Step(100, /*first=*/false);
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(cost.value(), 56) << "the other 112 token-layers";
  EXPECT_TRUE(steps->done());
}

// A batch that cannot be divided (blend's bottom-right mask) runs whole: only the
// iteration's first step may run it, over its budget.
TEST(SteppedPrefill, OnlyTheIterationsFirstStepMayOverrunItsBudgetByOneLayer) {
  auto e = LoadTinyEngine(512);
  ASSERT_TRUE(e);
  FusionOptions options;
  options.mode = FusionMode::kBlend;
  options.bottom_right_mask = true;
  options.recompute_ratio = 0.5f;  // 24 chunk tokens and the suffix's 6 attend past their own
  const SegmentedPrompt prompt = Prompt();
  ASSERT_TRUE(e->WarmChunk(prompt.chunks[0]).ok());
  ASSERT_TRUE(e->WarmChunk(prompt.chunks[1]).ok());
  auto steps = e->StartPrefill(prompt, options);
  bool ran_masked_layer = false;
  while (!steps->done()) {
    util::Result<int32_t> cost = steps->Step(3, /*first=*/false);
    ASSERT_TRUE(cost.ok());
    EXPECT_LE(cost.value(), 3);
    if (steps->done()) break;
    cost = steps->Step(3, /*first=*/true);
    ASSERT_TRUE(cost.ok());
    EXPECT_GT(cost.value(), 0) << "the first step must progress";
    ran_masked_layer = ran_masked_layer || cost.value() == 15;  // its 30 tokens, whole
  }
  EXPECT_TRUE(ran_masked_layer) << "the masked subset was divided";
}

TEST(SteppedPrefill, AbandonedHalfWayLeavesNothingBehind) {
  auto e = LoadTinyEngine(512);
  ASSERT_TRUE(e);
  FusionOptions options;
  options.mode = FusionMode::kBlend;
  const SegmentedPrompt prompt = Prompt();
  const int32_t free_before = e->block_pool().n_free();
  {
    auto steps = e->StartPrefill(prompt, options);
    // A step of 4 (8 token-layers) runs a piece of 16 tokens or the rest of a layer: the
    // prefix's two layers of 20 tokens take all four steps (16, 4, 16, 4).
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(steps->Step(4, true).ok());
    EXPECT_FALSE(steps->done());
  }
  e->Release(0);
  EXPECT_EQ(e->block_pool().n_free(), free_before);

  auto fresh = LoadTinyEngine(512);
  std::vector<float> expected, logits;
  FusionStats expected_stats, stats;
  ASSERT_TRUE(fresh->PrefillSegments(prompt, options, expected, expected_stats).ok());
  ASSERT_TRUE(e->PrefillSegments(prompt, options, logits, stats).ok());
  EXPECT_EQ(stats.chunk_misses, 2) << "a half-computed chunk was stored";
  EXPECT_EQ(logits, expected);
}

}  // namespace
}  // namespace kvfuse::engine
