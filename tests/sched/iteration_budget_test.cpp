// The prefill budget an iteration gets from the TPOT target and the costs measured so far,
// against the arithmetic done by hand.
#include "sched/iteration_budget.h"

#include <gtest/gtest.h>

namespace kvfuse::sched {
namespace {

TEST(IterationBudget, WithNothingDecodingOrNothingMeasuredTheWholeBatch) {
  IterationBudget b(512, 0.050);
  EXPECT_EQ(b.PrefillTokens(0), 512);
  EXPECT_EQ(b.PrefillTokens(3), 509) << "no per-token cost measured yet: the cap";
  b.ObservePrefill(100, 0.1);
  b.ObserveDecode(0.010);
  EXPECT_EQ(b.PrefillTokens(0), 512) << "no stream waits";
}

TEST(IterationBudget, WhatTheTargetLeavesAfterTheDecodeAtTheMeasuredCostPerToken) {
  IterationBudget b(512, 0.050);
  b.ObservePrefill(100, 0.1);  // 1 ms a token
  b.ObserveDecode(0.010);
  EXPECT_EQ(b.PrefillTokens(2), 40);  // (50 - 10) ms / 1 ms
  b.ObservePrefill(100, 0.2);         // 2 ms a token: the averages move a fifth of the way
  EXPECT_EQ(b.PrefillTokens(2), 33);  // 40 ms / (0.12 s / 100 tokens)
}

TEST(IterationBudget, AMultipleOfTheDecodeStepFollowsTheMeasuredDecodeAndTheShorterTargetBinds) {
  IterationBudget steps(512, 0, 3);
  steps.ObservePrefill(100, 0.1);  // 1 ms a token
  EXPECT_EQ(steps.PrefillTokens(2), 510) << "no decode step measured yet: nothing to take a multiple of";
  steps.ObserveDecode(0.010);
  EXPECT_EQ(steps.PrefillTokens(2), 20);  // (3 x 10 - 10) ms / 1 ms
  steps.ObserveDecode(0.005);             // the average moves a fifth of the way: 9 ms
  EXPECT_EQ(steps.PrefillTokens(2), 18);  // (27 - 9) ms / 1 ms
  IterationBudget both(512, 0.050, 3);
  both.ObservePrefill(100, 0.1);
  both.ObserveDecode(0.010);
  EXPECT_EQ(both.PrefillTokens(2), 20) << "30 ms of decode steps, shorter than 50 ms";
  IterationBudget time_first(512, 0.025, 3);
  time_first.ObservePrefill(100, 0.1);
  time_first.ObserveDecode(0.010);
  EXPECT_EQ(time_first.PrefillTokens(2), 15) << "25 ms, shorter than 30 ms of decode steps";
}

TEST(IterationBudget, AnOverestimateCorrectsItselfFromTheSmallStepsItCauses) {
  IterationBudget b(512, 0.050);
  b.ObservePrefill(100, 1.0);  // a cold start: 10 ms a token
  b.ObserveDecode(0.010);
  EXPECT_EQ(b.PrefillTokens(2), IterationBudget::kMinPrefillTokens);  // 40 ms / 10 ms
  for (int i = 0; i < 40; ++i) b.ObservePrefill(4, 0.004);  // the truth: 1 ms a token
  EXPECT_GE(b.PrefillTokens(2), 35);  // back near 40
}

TEST(IterationBudget, ClampedBetweenTheMinimumAndTheCap) {
  IterationBudget slow(512, 0.050);
  slow.ObservePrefill(100, 0.1);
  slow.ObserveDecode(0.080);  // the decode alone overruns the target
  EXPECT_EQ(slow.PrefillTokens(4), IterationBudget::kMinPrefillTokens);
  IterationBudget fast(64, 0.050);
  fast.ObservePrefill(1000, 0.01);
  fast.ObserveDecode(0.001);
  EXPECT_EQ(fast.PrefillTokens(4), 60);  // 64 less the decodes
  IterationBudget none(64, 0);
  none.ObservePrefill(100, 10.0);
  none.ObserveDecode(1.0);
  EXPECT_EQ(none.PrefillTokens(4), 60) << "no target: the cap";
}

}  // namespace
}  // namespace kvfuse::sched
