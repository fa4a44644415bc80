// qwen3 and gemma3 logits against an independent reference: tools/torch_reference, written
// in torch from the published model definitions (llama.cpp c392e50 predates both families, so
// there is no perplexity to compare with). 200 tokens: gemma3's 8-token windows slide many
// times, and its sixth layer attends globally with linearly scaled RoPE.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

#include "model/model.h"
#include "model_gen/test_model_file.h"

namespace kvfuse::model {
namespace {

// Logits [tokens, n_vocab] from the torch reference; empty if it could not run.
std::vector<double> TorchLogits(const std::string& model_path, const std::vector<int32_t>& tokens) {
  const std::string base = std::string(KVFUSE_TEST_TMP) + "/torch-" + std::to_string(getpid());
  {
    std::ofstream out(base + ".i32", std::ios::binary);
    out.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * sizeof(int32_t)));
  }
  const std::string command = "/usr/bin/python3 " KVFUSE_TORCH_REFERENCE " '" + model_path + "' '" + base + ".i32' '" +
                              base + ".f64'";
  if (std::system(command.c_str()) != 0) return {};
  std::ifstream in(base + ".f64", std::ios::binary | std::ios::ate);
  std::vector<double> logits(static_cast<size_t>(in.tellg()) / sizeof(double));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(double)));
  std::remove((base + ".i32").c_str());
  std::remove((base + ".f64").c_str());
  return logits;
}

class TorchReference : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchReference, LogitsMatchWithinF16Rounding) {
  auto path = tools::TestModelFile(GetParam(), "f32", 7);
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto m = Model::Open(path.value());
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Model& model = *m.value();
  const int n = 200, n_vocab = model.hparams().n_vocab;
  std::mt19937 rng(17);
  std::vector<int32_t> tokens(n);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % n_vocab);

  kv::KvManager kv(model.kv_geometry(), 256, 16);
  ASSERT_TRUE(kv.Reserve(0, n).ok());
  TokenBatch batch;
  for (int i = 0; i < n; ++i) batch.Add(tokens[i], i, 0, kv.SlotOf(0, i), true);
  ForwardContext ctx(2);
  std::vector<float> got;
  ASSERT_TRUE(model.Forward(ctx, batch, kv, got).ok());

  const std::vector<double> want = TorchLogits(path.value(), tokens);
  ASSERT_EQ(want.size(), got.size()) << "the torch reference did not run";
  double max_abs = 0, max_err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(want[i]));
    max_err = std::max(max_err, std::fabs(want[i] - got[i]));
  }
  EXPECT_GT(max_abs, 1.0);
  // K/V are kept in f16 (11 significant bits): the forward's only rounding beyond f32's.
  EXPECT_LE(max_err, 4e-3 * max_abs) << GetParam() << " max |logit| " << max_abs;
}

INSTANTIATE_TEST_SUITE_P(Families, TorchReference, ::testing::Values("tiny-qwen3", "tiny-gemma3"),
                         [](const auto& info) { return info.param.substr(5); });

}  // namespace
}  // namespace kvfuse::model
