// Request bodies: nesting depth is measured outside strings and bounded before parsing.
#include <string>

#include <gtest/gtest.h>

#include "server/json_body.h"
#include "util/json_depth.h"

namespace kvfuse::server {
namespace {

TEST(JsonBody, DepthCountsArraysAndObjectsOutsideStrings) {
  EXPECT_EQ(util::JsonNestingDepth(R"({"a": 1})", 64), 1);
  EXPECT_EQ(util::JsonNestingDepth(R"({"a": [1, {"b": []}]})", 64), 4);
  EXPECT_EQ(util::JsonNestingDepth(R"({"a": "[[[[{{{{"})", 64), 1);
  EXPECT_EQ(util::JsonNestingDepth(R"({"a": "\"[[[", "b": [[]]})", 64), 3);  // an escaped quote does not end the string
  EXPECT_EQ(util::JsonNestingDepth(R"({"a": "\\", "b": [[]]})", 64), 3);     // an escaped backslash does
  EXPECT_EQ(util::JsonNestingDepth("42", 64), 0);
}

TEST(JsonBody, DepthStopsCountingPastTheLimit) {
  const std::string deep(1'000'000, '[');
  EXPECT_EQ(util::JsonNestingDepth(deep, 64), 65);
}

TEST(JsonBody, TooDeepIsA400NotAStackOverflow) {
  // 100,000 nested arrays as a document id killed the server in dump().
  const std::string id = std::string(100'000, '[') + std::string(100'000, ']');
  const std::string body = R"({"documents": [{"text": "x", "id": )" + id + "}]}";
  auto parsed = ParseJsonObject(body);
  ASSERT_TRUE(std::holds_alternative<ApiError>(parsed));
  EXPECT_EQ(std::get<ApiError>(parsed).status, 400);
  EXPECT_NE(std::get<ApiError>(parsed).message.find("deeper than 64"), std::string::npos);
}

// An object of more keys than kMaxObjectKeys anywhere is refused by the top-level field that
// holds it, before the ordered re-parse whose inserts are linear searches.
TEST(JsonBody, WideObjectsAreRefusedByTheirField) {
  nlohmann::json message = {{"role", "user"}, {"content", "hi"}};
  for (size_t i = 0; message.size() < kMaxObjectKeys; ++i) message["k" + std::to_string(i)] = 0;
  nlohmann::json body = {{"messages", {message}}, {"max_tokens", 1}};
  EXPECT_FALSE(RefuseWideObjects(body)) << "exactly the limit";
  body["messages"][0]["one_more"] = 0;
  const auto err = RefuseWideObjects(body);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status, 400);
  EXPECT_EQ(err->param, "messages");
  nlohmann::json wide_schema = {{"response_format", {{"json_schema", {{"schema", {{"properties", body["messages"][0]}}}}}}}};
  EXPECT_EQ(RefuseWideObjects(wide_schema)->param, "response_format");
}

TEST(JsonBody, ObjectsWithinTheLimitParse) {
  std::string nested = "1";
  for (int i = 0; i < kMaxJsonDepth - 1; ++i) nested = "[" + nested + "]";
  auto parsed = ParseJsonObject(R"({"a": )" + nested + "}");
  ASSERT_TRUE(std::holds_alternative<nlohmann::json>(parsed));
  EXPECT_TRUE(std::holds_alternative<ApiError>(ParseJsonObject("[1]")));
  EXPECT_TRUE(std::holds_alternative<ApiError>(ParseJsonObject("{")));
}

}  // namespace
}  // namespace kvfuse::server
