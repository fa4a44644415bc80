// GenerateSync against the engine's own prefill-then-argmax loop (the reference).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "engine/generate_sync.h"
#include "model_gen/test_model_file.h"

namespace kvfuse::engine {
namespace {

std::unique_ptr<Engine> LoadTiny() {
  auto path = tools::TestModelFile("tiny", "f32", 5);
  EXPECT_TRUE(path.ok());
  EngineOptions o;
  o.model_path = path.value();
  o.n_ctx = 256;
  auto e = Engine::Load(o);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return std::move(e).value();
}

std::vector<int32_t> Prompt() {
  std::mt19937 rng(7);
  std::vector<int32_t> t(40);
  for (auto& x : t) x = 3 + static_cast<int32_t>(rng() % 1000);
  return t;
}

int32_t ArgMax(const std::vector<float>& v) { return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin()); }

TEST(GenerateSync, GreedyEqualsTheEnginesOwnLoop) {
  auto e = LoadTiny();
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
  auto e = LoadTiny();
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
