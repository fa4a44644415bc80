// The bundled demo models (models/demo.gguf, trained to read cached chunks, and
// models/demo-plain.gguf, trained on whole prompts only; both by tools/demo/train.py) compute
// in the engine what they computed in PyTorch: the training script wrote its own token ids
// and float32 next-token logits for a few evaluation prompts (models/demo-world/reference*.jsonl),
// once with full attention and once as naive chunk reuse reads the prompt.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace kvfuse::engine {
namespace {

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

}  // namespace

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
  bool naive_differs = false;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json ref = nlohmann::json::parse(line);
    const auto& texts = ref["texts"];
    SegmentedPrompt p;
    p.prefix = (*e)->tokenizer()->Encode(texts.front().get<std::string>(), false, true);
    for (size_t i = 1; i + 1 < texts.size(); ++i) p.chunks.push_back((*e)->tokenizer()->Encode(texts[i].get<std::string>(), false));
    p.suffix = (*e)->tokenizer()->Encode(texts.back().get<std::string>(), false, true);
    ASSERT_EQ(p.Flatten(), ref["ids"].get<std::vector<int32_t>>()) << "tokenization differs from the trainer's";

    // Full prefill against the script's forward; naive reuse (every chunk's KV computed alone,
    // keys re-rotated to its offset) against the script's block-attention forward.
    for (const auto& [mode, key] : {std::pair{FusionMode::kFull, "logits"}, std::pair{FusionMode::kNaive, "naive_logits"}}) {
      std::vector<float> logits;
      FusionStats stats;
      (*e)->ClearPrefixCache();
      ASSERT_TRUE((*e)->PrefillSegments(p, {mode}, logits, stats).ok());
      const std::vector<float> want = ref[key].get<std::vector<float>>();
      ASSERT_EQ(logits.size(), want.size());
      // f16 KV in the engine vs f32 throughout in PyTorch.
      EXPECT_LE(MaxAbsDiff(logits, want), 1e-2 * MaxAbs(want) + 1e-3) << key << ", prompt " << checked;
      if (mode == FusionMode::kFull) {
        EXPECT_EQ(std::max_element(logits.begin(), logits.end()) - logits.begin(), ref["argmax"].get<int>());
      }
    }
    // The two references differ, so each comparison checks its own path.
    naive_differs |= MaxAbsDiff(ref["logits"].get<std::vector<float>>(), ref["naive_logits"].get<std::vector<float>>()) >
                     0.1;
    ++checked;
  }
  EXPECT_GE(checked, 1);
  EXPECT_TRUE(naive_differs);
}

INSTANTIATE_TEST_SUITE_P(BothModels, DemoModel,
                         ::testing::Values(std::make_pair("demo.gguf", "reference.jsonl"),
                                           std::make_pair("demo-plain.gguf", "reference-plain.jsonl")),
                         [](const auto& info) { return std::string(info.index == 0 ? "reuse_trained" : "plain"); });

}  // namespace kvfuse::engine
