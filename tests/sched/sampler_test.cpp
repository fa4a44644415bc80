#include <map>

#include <gtest/gtest.h>

#include "sched/sampler.h"

namespace kvfuse::sched {
namespace {

TEST(Sampler, GreedyAtTemperatureZero) {
  const float logits[] = {0.1f, 2.0f, 1.9f, -3.0f};
  Sampler s({0.0f, 40, 1.0f, 7});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.Sample(logits, 4), 1);
}

// Frequencies over many draws against the filtered, renormalised distribution.
std::map<int32_t, double> Frequencies(const SamplingParams& p, const float* logits, int32_t n, int draws) {
  Sampler s(p);
  std::map<int32_t, double> f;
  for (int i = 0; i < draws; ++i) f[s.Sample(logits, n)] += 1.0 / draws;
  return f;
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  // Probabilities at temperature 1: about 0.665, 0.245, 0.090 and tiny.
  const float logits[] = {2.0f, 1.0f, 0.0f, -6.0f};
  SamplingParams p{1.0f, 0, 1.0f, 3, 0.2f};  // keeps tokens with p >= 0.2 * 0.665: ids 0 and 1
  const auto f = Frequencies(p, logits, 4, 20000);
  EXPECT_EQ(f.count(2), 0u);
  EXPECT_EQ(f.count(3), 0u);
  EXPECT_NEAR(f.at(0), 0.731, 0.02);  // e^2 / (e^2 + e^1)
  p.min_p = 0.0f;
  const auto all = Frequencies(p, logits, 4, 20000);
  EXPECT_NEAR(all.at(2), 0.090, 0.01);
}

TEST(Sampler, TopKAndTopP) {
  const float logits[] = {2.0f, 1.0f, 0.0f, -6.0f};
  const auto k1 = Frequencies({1.0f, 1, 1.0f, 5}, logits, 4, 100);
  EXPECT_EQ(k1.size(), 1u);
  const auto p05 = Frequencies({1.0f, 0, 0.5f, 5}, logits, 4, 100);  // the first token alone covers 0.5
  EXPECT_EQ(p05.size(), 1u);
}

}  // namespace
}  // namespace kvfuse::sched
