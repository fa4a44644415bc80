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

TEST(Status, CodesSurviveContext) {
  EXPECT_EQ(Status::Ok().code(), StatusCode::kOk);
  EXPECT_EQ(Status::Error("x").code(), StatusCode::kUnknown);
  const Status full = Status::ResourceExhausted("no blocks").WithContext("prefill");
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(), "prefill: no blocks");
  EXPECT_EQ(Status::Corrupt("bad").code(), StatusCode::kCorrupt);
  Result<int> from_ok = Status::Ok();  // our bug: becomes an internal error
  EXPECT_EQ(from_ok.status().code(), StatusCode::kInternal);
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
