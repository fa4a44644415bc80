// LogSumExp and TopProbability against values worked out by hand, including logits whose
// exponentials overflow a double.
#include <gtest/gtest.h>

#include <cmath>

#include "util/log_sum_exp.h"

namespace kvfuse::util {

TEST(LogSumExp, IsTheLogOfTheSumOfExponentialsWithoutOverflow) {
  const float equal[] = {0, 0, 0, 0};
  EXPECT_NEAR(LogSumExp(equal, 4), std::log(4.0), 1e-12);
  const float huge[] = {1000, 1000};  // exp(1000) is out of a double's range
  EXPECT_NEAR(LogSumExp(huge, 2), 1000 + std::log(2.0), 1e-9);
  const float one[] = {-7.5f};
  EXPECT_DOUBLE_EQ(LogSumExp(one, 1), -7.5);
}

TEST(LogSumExp, TopProbabilityIsTheLikeliestEntrysSoftmax) {
  const float equal[] = {2, 2, 2, 2};
  EXPECT_NEAR(TopProbability(equal, 4), 0.25, 1e-12);
  const float three_to_one[] = {0, static_cast<float>(std::log(3.0))};  // softmax 1/4, 3/4
  EXPECT_NEAR(TopProbability(three_to_one, 2), 0.75, 1e-7);
  const float far[] = {-1000, 1000};
  EXPECT_DOUBLE_EQ(TopProbability(far, 2), 1.0);
}

}  // namespace kvfuse::util
