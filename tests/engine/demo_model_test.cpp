// The bundled demo models (models/demo.gguf, trained to read cached chunks, and
// models/demo-plain.gguf, trained on whole prompts only; both by tools/demo/train.py) compute
// in the engine what they computed in PyTorch: the training script wrote its own token ids
// and float32 next-token logits for a few evaluation prompts (models/demo-world/reference*.jsonl).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace kvfuse::engine {

class DemoModel : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(DemoModel, MatchesTheTrainingScriptsTokensAndLogits) {
  const std::string dir = KVFUSE_MODELS_DIR;
  const auto [model, reference] = GetParam();
  EngineOptions options;
  options.model_path = dir + "/" + model;
  auto e = Engine::Load(options);
  ASSERT_TRUE(e.ok()) << e.status().message();
  ASSERT_NE((*e)->tokenizer(), nullptr) << (*e)->tokenizer_error();
  std::ifstream in(dir + "/demo-world/" + reference);
  ASSERT_TRUE(in) << "missing " << dir << "/demo-world/" << reference;
  int checked = 0;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json ref = nlohmann::json::parse(line);
    const auto& texts = ref["texts"];
    SegmentedPrompt p;
    p.prefix = (*e)->tokenizer()->Encode(texts.front().get<std::string>(), false, true);
    for (size_t i = 1; i + 1 < texts.size(); ++i) p.chunks.push_back((*e)->tokenizer()->Encode(texts[i].get<std::string>(), false));
    p.suffix = (*e)->tokenizer()->Encode(texts.back().get<std::string>(), false, true);
    ASSERT_EQ(p.Flatten(), ref["ids"].get<std::vector<int32_t>>()) << "tokenization differs from the trainer's";

    std::vector<float> logits;
    FusionStats stats;
    ASSERT_TRUE((*e)->PrefillSegments(p, {FusionMode::kFull}, logits, stats).ok());
    const std::vector<float> want = ref["logits"].get<std::vector<float>>();
    ASSERT_EQ(logits.size(), want.size());
    double max_diff = 0, max_abs = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(logits[i] - want[i])));
      max_abs = std::max(max_abs, static_cast<double>(std::fabs(want[i])));
    }
    // f16 KV in the engine vs f32 throughout in PyTorch.
    EXPECT_LE(max_diff, 1e-2 * max_abs + 1e-3) << "prompt " << checked;
    EXPECT_EQ(std::max_element(logits.begin(), logits.end()) - logits.begin(), ref["argmax"].get<int>());
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

INSTANTIATE_TEST_SUITE_P(BothModels, DemoModel,
                         ::testing::Values(std::make_pair("demo.gguf", "reference.jsonl"),
                                           std::make_pair("demo-plain.gguf", "reference-plain.jsonl")),
                         [](const auto& info) { return std::string(info.index == 0 ? "reuse_trained" : "plain"); });

}  // namespace kvfuse::engine
