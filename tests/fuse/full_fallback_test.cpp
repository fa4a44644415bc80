// fallback_below against a full prefill: at 1 every reusing mode's prefill is redone and
// equals full (ape's reshaping cleared, the chunk tokens and the question counted again);
// the fused first token's probability decides (a floor just under it changes nothing, one
// just over it redoes the prefill); a floor outside [0, 1] is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "fusion_fixture.h"

namespace kvfuse::fuse {
namespace {

// The softmax probability of the likeliest logit, in long double (the reference).
long double TopProbability(const std::vector<float>& logits) {
  const long double max = *std::max_element(logits.begin(), logits.end());
  long double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<long double>(x) - max);
  return 1 / sum;
}

TEST(FullFallback, AtOneEveryReusingModeIsRedoneAndEqualsFull) {
  for (const char* shape : {"tiny", "tiny-deep"}) {
    Fixture f(shape);
    const SegmentedPrompt p = MakePrompt({5, 6, 7}, 9);
    const std::vector<float> full = f.Run(p, FusionMode::kFull);
    f.Run(p, FusionMode::kNaive);  // every chunk in the store: both runs below find them there
    for (FusionMode mode : {FusionMode::kNaive, FusionMode::kBlend, FusionMode::kGradual, FusionMode::kAdaptive,
                            FusionMode::kSinks, FusionMode::kQuery, FusionMode::kApe}) {
      FusionOptions o{mode, 0.15f};
      FusionStats fused, redone;
      f.RunWith(p, o, &fused);
      o.fallback_below = 1;
      const std::vector<float> logits = f.RunWith(p, o, &redone);
      EXPECT_FALSE(fused.fell_back) << FusionModeName(mode);
      EXPECT_TRUE(redone.fell_back) << FusionModeName(mode);
      EXPECT_EQ(redone.chunk_tokens_recomputed, fused.chunk_tokens_recomputed + 36) << FusionModeName(mode);
      EXPECT_EQ(redone.tokens_computed, fused.tokens_computed + 5) << FusionModeName(mode);
      EXPECT_LE(MaxAbsDiff(logits, full), kSameAsFull * MaxAbs(full)) << shape << " " << FusionModeName(mode);
      EXPECT_EQ(f.kv.ContextReshapeOf(0), nullptr) << FusionModeName(mode);
    }
  }
}

TEST(FullFallback, TheFusedFirstTokensProbabilityDecides) {
  Fixture f("tiny-deep");
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  const std::vector<float> full = f.Run(p, FusionMode::kFull);
  FusionOptions o{FusionMode::kQuery, 0.15f};
  const std::vector<float> fused = f.RunWith(p, o);
  ASSERT_GT(MaxAbsDiff(fused, full), kSameAsFull * MaxAbs(full)) << "nothing for a redo to change";
  const long double top = TopProbability(fused);
  FusionStats stats;
  o.fallback_below = static_cast<float>(top * 0.999L);
  EXPECT_EQ(f.RunWith(p, o, &stats), fused);
  EXPECT_FALSE(stats.fell_back);
  o.fallback_below = static_cast<float>(top * 1.001L);
  const std::vector<float> redone = f.RunWith(p, o, &stats);
  EXPECT_TRUE(stats.fell_back);
  EXPECT_LE(MaxAbsDiff(redone, full), kSameAsFull * MaxAbs(full));
}

TEST(FullFallback, OnlyReusingModesReadItAndItIsAProbability) {
  for (FusionMode mode : {FusionMode::kFull, FusionMode::kPrefix, FusionMode::kNaive, FusionMode::kQuery, FusionMode::kApe})
    EXPECT_EQ(ModeReadsKnob(mode, FusionKnob::kFallbackBelow), ReusesChunkKv(mode)) << FusionModeName(mode);
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2}, 9);
  for (float bad : {-0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
    FusionOptions o{FusionMode::kQuery};
    o.fallback_below = bad;
    std::vector<float> logits;
    FusionStats stats;
    const util::Status st = f.Prefill(p, o, logits, stats);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("fallback_below must be within [0, 1]"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace kvfuse::fuse
