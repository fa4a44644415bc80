// The recompute-share controller against scripted audit outcomes: it raises the share while
// the audits disagree more than the target allows, settles where they agree, lowers it again
// when they agree with margin for a whole window, ignores audits made in an older epoch,
// and keeps collections and methods apart.
#include <gtest/gtest.h>

#include <random>

#include "server/share_controller.h"

namespace kvfuse::server {
namespace {

const ShareKey kA{"a", "query"};

// An audit of a request that ran at `key`'s current share.
std::optional<ShareDecision> Audit(ShareController& c, const ShareKey& key, bool agrees) {
  return c.Observe(key, c.ShareFor(key).epoch, agrees);
}

ShareControllerOptions Options(double target, int window) {
  ShareControllerOptions o;
  o.target = target;
  o.window = window;
  return o;
}

TEST(ShareController, StartsEveryCollectionAtTheStartShareOnTheLadder) {
  ShareController c(Options(0.98, 50), 0.14f);
  EXPECT_EQ(c.ShareFor(kA).share, 0.14f);
  ShareController odd(Options(0.98, 50), 0.33f);
  EXPECT_EQ(odd.ShareFor(kA).share, 0.33f) << "a share that is not a rung becomes one";
  const auto& ladder = odd.ladder();
  EXPECT_TRUE(std::is_sorted(ladder.begin(), ladder.end()));
  EXPECT_EQ(ladder.front(), 0.05f);
  EXPECT_EQ(ladder.back(), 1.0f);
}

TEST(ShareController, RaisesAsSoonAsAFullWindowCanNoLongerReachTheTarget) {
  ShareController c(Options(0.98, 50), 0.14f);  // one disagreement in 50 allowed
  const uint64_t first_epoch = c.ShareFor(kA).epoch;
  EXPECT_FALSE(Audit(c, kA, false));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(Audit(c, kA, true));
  const auto d = Audit(c, kA, false);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->key, kA);
  EXPECT_EQ(d->from, 0.14f);
  EXPECT_EQ(d->to, 0.2f);
  EXPECT_EQ(d->audits, 12);
  EXPECT_EQ(d->agreeing, 10);
  EXPECT_NE(d->reason.find("2 of the last 12"), std::string::npos) << d->reason;
  EXPECT_EQ(c.ShareFor(kA).share, 0.2f);
  EXPECT_NE(c.ShareFor(kA).epoch, first_epoch);
  EXPECT_EQ(c.Window(kA), std::make_pair(0, 0)) << "a change empties the window";
  EXPECT_FALSE(c.Observe(kA, first_epoch, false)) << "an audit made at the old share is not counted";
  EXPECT_EQ(c.Window(kA), std::make_pair(0, 0));
  EXPECT_EQ(c.ShareFor({"b", "query"}).share, 0.14f) << "collections are apart";
  EXPECT_EQ(c.ShareFor({"a", "blend"}).share, 0.14f) << "and so are methods";
}

TEST(ShareController, LowersAfterAWholeWindowAgreesWithMarginAndNotBefore) {
  ShareController c(Options(0.9, 20), 0.3f);  // 2 disagreements allowed, at most 1 to lower
  for (int i = 0; i < 19; ++i) EXPECT_FALSE(Audit(c, kA, i != 5));
  const auto d = Audit(c, kA, true);  // the 20th: 1 disagreement in a full window
  ASSERT_TRUE(d);
  EXPECT_EQ(d->to, 0.2f);
  // At 0.2: two disagreements in a full window are within the target but not the margin.
  for (int i = 0; i < 40; ++i) EXPECT_FALSE(Audit(c, kA, i % 10 != 0)) << i;
  EXPECT_EQ(c.ShareFor(kA).share, 0.2f);
}

// A collection whose agreement at share s is p(s): within a bounded number of audits the
// controller serves at a share that meets the target (probing the rung below less and less
// often), so the measured agreement meets it; and it comes back down when the documents
// become easy again.
TEST(ShareController, ConvergesToAShareThatMeetsTheTargetAndComesBackDown) {
  ShareController c(Options(0.95, 40), 0.05f);
  std::mt19937 rng(7);
  int agreed = 0, at_half = 0;
  const auto audit = [&](double (*p)(float)) {
    const float s = c.ShareFor(kA).share;
    const bool agrees = std::uniform_real_distribution<double>(0, 1)(rng) < p(s);
    Audit(c, kA, agrees);
    return std::make_pair(s, agrees);
  };
  const auto hard = [](float s) { return s >= 0.5f ? 1.0 : s >= 0.3f ? 0.9 : 0.6; };
  for (int i = 0; i < 1000; ++i) {
    const auto [share, agrees] = audit(hard);
    if (i < 400) continue;  // converging
    agreed += agrees;
    at_half += share == 0.5f;
  }
  EXPECT_GE(agreed / 600.0, 0.95) << "measured agreement at the target";
  EXPECT_GE(at_half / 600.0, 0.9) << "at the lowest rung that meets it, nearly always";
  EXPECT_EQ(c.ShareFor(kA).share, 0.5f);
  const auto easy = [](float) { return 1.0; };
  for (int i = 0; i < 1500; ++i) audit(easy);
  EXPECT_EQ(c.ShareFor(kA).share, 0.05f) << "back down once every audit agrees";
}

}  // namespace
}  // namespace kvfuse::server
