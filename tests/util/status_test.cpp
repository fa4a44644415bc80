#include "util/status.h"

#include <gtest/gtest.h>

namespace kvfuse::util {

TEST(Status, OkAndErrorCarryTheirMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  const Status st = Status::Error("bad offset").WithContext("model.gguf");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "model.gguf: bad offset");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = 7;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.value(), 7);
  Result<int> bad = Status::Error("nope");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "nope");
}

TEST(StrFormat, FormatsLongStrings) {
  const std::string long_arg(1000, 'x');
  EXPECT_EQ(StrFormat("%s-%d", long_arg.c_str(), 5), long_arg + "-5");
}

}  // namespace kvfuse::util
