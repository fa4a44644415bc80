#include <cmath>
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

namespace kvfuse::sched {
namespace {

// Greedy picks of a sampler offered the same logits again and again.
std::vector<int32_t> GreedyPicks(SamplingParams p, std::vector<float> logits, int n) {
  p.temperature = 0;
  Sampler s(p);
  std::vector<int32_t> picks;
  for (int i = 0; i < n; ++i) picks.push_back(s.Sample(logits.data(), static_cast<int32_t>(logits.size())));
  return picks;
}

TEST(SamplerPenalties, FrequencyAndPresenceLowerWhatWasGenerated) {
  SamplingParams none;
  EXPECT_EQ(GreedyPicks(none, {2.0f, 1.9f, 0.5f}, 4), (std::vector<int32_t>{0, 0, 0, 0}));
  SamplingParams frequency;
  frequency.frequency_penalty = 0.5f;  // 2.0 - 0.5c against 1.9 - 0.5c
  EXPECT_EQ(GreedyPicks(frequency, {2.0f, 1.9f, 0.5f}, 4), (std::vector<int32_t>{0, 1, 0, 1}));
  SamplingParams presence;
  presence.presence_penalty = 0.2f;  // 1.8 against 1.7 once both were generated
  EXPECT_EQ(GreedyPicks(presence, {2.0f, 1.9f, 0.5f}, 4), (std::vector<int32_t>{0, 1, 0, 0}));
  SamplingParams negative;
  negative.frequency_penalty = -0.5f;  // encourages repeats
  EXPECT_EQ(GreedyPicks(negative, {1.9f, 2.0f, 0.5f}, 3), (std::vector<int32_t>{1, 1, 1}));
}

TEST(SamplerPenalties, RepeatPenaltyOverTheLastNGenerated) {
  SamplingParams last_one;
  last_one.repeat_penalty = 1.1f;
  last_one.repeat_last_n = 1;  // 2.0 / 1.1 = 1.82 < 1.9, then only the last token is penalised
  EXPECT_EQ(GreedyPicks(last_one, {2.0f, 1.9f, -1.0f}, 4), (std::vector<int32_t>{0, 1, 0, 1}));
  SamplingParams all = last_one;
  all.repeat_last_n = -1;  // both penalised: 1.82 against 1.73
  EXPECT_EQ(GreedyPicks(all, {2.0f, 1.9f, -1.0f}, 4), (std::vector<int32_t>{0, 1, 0, 0}));
  SamplingParams off = last_one;
  off.repeat_last_n = 0;
  EXPECT_EQ(GreedyPicks(off, {2.0f, 1.9f, -1.0f}, 3), (std::vector<int32_t>{0, 0, 0}));
  // A negative logit is multiplied: -1.0 * 1.1 = -1.1 < -1.05.
  EXPECT_EQ(GreedyPicks(last_one, {-1.0f, -1.05f, -3.0f}, 2), (std::vector<int32_t>{0, 1}));
}

}  // namespace
}  // namespace kvfuse::sched

namespace kvfuse::sched {
namespace {

TEST(SamplerLogitBias, AddedToTheGivenTokensLogits) {
  SamplingParams up;
  up.logit_bias = {{2, 1.6f}};  // 0.5 + 1.6 = 2.1 > 2.0
  EXPECT_EQ(GreedyPicks(up, {2.0f, 1.9f, 0.5f}, 2), (std::vector<int32_t>{2, 2}));
  SamplingParams down;
  down.logit_bias = {{0, -0.2f}, {7, 100.0f}};  // 1.8 < 1.9; an id outside the vocabulary changes nothing
  EXPECT_EQ(GreedyPicks(down, {2.0f, 1.9f, 0.5f}, 2), (std::vector<int32_t>{1, 1}));
  SamplingParams ban;
  ban.temperature = 1.0f;
  ban.logit_bias = {{0, -100.0f}};
  Sampler s(ban);
  const float logits[] = {5.0f, 0.0f, 0.0f};
  for (int i = 0; i < 200; ++i) EXPECT_NE(s.Sample(logits, 3), 0);
}

}  // namespace
}  // namespace kvfuse::sched

namespace kvfuse::sched {
namespace {

TEST(LogprobOf, TheLogSoftmaxInDoublePrecisionAndTheMostLikelyInOrder) {
  const std::vector<float> logits = {1.0f, 3.5f, -2.0f, 3.5f, 0.25f};
  double z = 0;
  for (float x : logits) z += std::exp(static_cast<double>(x));
  const auto reference = [&](int i) { return std::log(std::exp(static_cast<double>(logits[i])) / z); };
  const TokenLogprob lp = LogprobOf(logits.data(), 5, 4, 3);
  EXPECT_EQ(lp.token, 4);
  EXPECT_NEAR(lp.logprob, reference(4), 1e-6);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 1);  // ties: the lower id first
  EXPECT_EQ(lp.top[1].first, 3);
  EXPECT_EQ(lp.top[2].first, 0);
  for (const auto& [id, value] : lp.top) EXPECT_NEAR(value, reference(id), 1e-6);
  EXPECT_TRUE(LogprobOf(logits.data(), 5, 0, 0).top.empty());
  // Every k, against a full sort.
  for (int k = 1; k <= 5; ++k) {
    const TokenLogprob all = LogprobOf(logits.data(), 5, 0, k);
    const std::vector<int32_t> order = {1, 3, 0, 4, 2};
    ASSERT_EQ(all.top.size(), static_cast<size_t>(k));
    for (int i = 0; i < k; ++i) EXPECT_EQ(all.top[i].first, order[i]) << k;
  }
}

}  // namespace
}  // namespace kvfuse::sched
