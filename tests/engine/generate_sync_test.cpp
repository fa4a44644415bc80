// GenerateSync against the engine's own prefill-then-argmax loop (the reference).
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/generate_sync.h"
#include "tiny_engine.h"

namespace kvfuse::engine {
namespace {

std::vector<int32_t> Prompt() { return RandomTokens(40, 7); }

int32_t ArgMax(const std::vector<float>& v) { return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin()); }

TEST(GenerateSync, GreedyEqualsTheEnginesOwnLoop) {
  auto e = LoadTinyEngine(256);
  ASSERT_NE(e, nullptr);
  const std::vector<int32_t> prompt = Prompt();
  std::vector<float> logits;
  ASSERT_TRUE(e->Evaluate(prompt, 0, false, logits).ok());
  const std::vector<float> first = logits;
  std::vector<int32_t> reference;
  for (int i = 0; i < 8; ++i) {
    reference.push_back(ArgMax(logits));
    ASSERT_TRUE(e->Evaluate({reference.back()}, static_cast<int32_t>(prompt.size()) + i, false, logits).ok());
  }
  e->Reset();

  SyncRequest request;
  request.fusion = {FusionMode::kFull};
  request.max_tokens = 8;
  request.stop_at_end_of_turn = false;
  std::string streamed;
  request.on_text = [&](const std::string& piece) { streamed += piece; };
  SegmentedPrompt p;
  p.prefix = prompt;
  auto out = GenerateSync(*e, p, request);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->tokens, reference);
  ASSERT_EQ(out->first_logits.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_NEAR(out->first_logits[i], first[i], 1e-4f) << i;
  StreamDecoder decoder(*e->tokenizer());  // broken UTF-8 becomes U+FFFD, as streamed
  std::string text;
  for (int32_t t : reference) text += decoder.Push(t);
  EXPECT_EQ(out->text, text + decoder.Flush());
  EXPECT_EQ(streamed, out->text);
  EXPECT_EQ(out->stats.prompt_tokens, static_cast<int32_t>(prompt.size()));
}

TEST(GenerateSync, NothingToGenerateAndTooLongAreHandled) {
  auto e = LoadTinyEngine(256);
  ASSERT_NE(e, nullptr);
  SegmentedPrompt p;
  p.prefix = Prompt();
  SyncRequest request;
  request.max_tokens = 0;
  auto none = GenerateSync(*e, p, request);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_TRUE(none->tokens.empty());
  EXPECT_FALSE(none->first_logits.empty());
  request.max_tokens = 1000;  // 40 + 999 > 256
  auto too_long = GenerateSync(*e, p, request);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), util::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kvfuse::engine
