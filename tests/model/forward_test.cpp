// The forward pass against the double-precision reference, and the TokenBatch contract:
// order independence, explicit slots, layer ranges, sequence isolation, validation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include "gguf/gguf_writer.h"
#include "kernels/kernel_table.h"
#include "kernels/quantize.h"
#include "model/model.h"
#include "model_gen/test_model_file.h"
#include "reference_forward.h"

namespace kvfuse::model {

namespace {

std::string ModelPath(const std::string& shape, const std::string& type) {
  auto path = tools::TestModelFile(shape, type, 7);
  EXPECT_TRUE(path.ok()) << path.status().message();
  return path.ok() ? path.value() : "";
}

std::unique_ptr<Model> OpenModel(const std::string& path) {
  auto m = Model::Open(path);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return std::move(m).value();
}

std::vector<int> SomeTokens(int n, int n_vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> t(n);
  for (int& x : t) x = static_cast<int>(rng() % n_vocab);
  return t;
}

// Gives sequence `seq` of a fresh cache of 64 one-token blocks n positions in scattered,
// descending slots (63, 61, 59, ...): nothing may depend on slot == position.
void Scatter(kv::KvManager& kv, int32_t seq, int32_t n) {
  EXPECT_TRUE(kv.Reserve(99, 64).ok());
  kv.Release(99);  // the pool now hands out 63, 62, ...
  for (int32_t i = 1; i <= n; ++i) {
    EXPECT_TRUE(kv.Reserve(seq, i).ok());
    EXPECT_TRUE(kv.Reserve(98, i).ok());
  }
  kv.Release(98);
}

// Logits of every token, run as one in-order batch of sequence 0 (slot = position).
std::vector<float> RunInOrder(const Model& m, ForwardContext& ctx, const std::vector<int>& tokens) {
  kv::KvManager kv(m.kv_geometry(), 128, 16);
  EXPECT_TRUE(kv.Reserve(0, static_cast<int32_t>(tokens.size())).ok());
  TokenBatch batch;
  for (int i = 0; i < static_cast<int>(tokens.size()); ++i) batch.Add(tokens[i], i, 0, i, true);
  std::vector<float> logits;
  const util::Status st = m.Forward(ctx, batch, kv, logits);
  EXPECT_TRUE(st.ok()) << st.message();
  return logits;
}

// Largest |logit| of want and the largest |want - got| (got: [tokens, n_vocab] flat).
std::pair<double, double> MaxAbsAndError(const std::vector<std::vector<double>>& want, const std::vector<float>& got) {
  double max_abs = 0, max_err = 0;
  for (size_t t = 0; t < want.size(); ++t)
    for (size_t i = 0; i < want[t].size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(want[t][i]));
      max_err = std::max(max_err, std::fabs(want[t][i] - got[t * want[t].size() + i]));
    }
  return {max_abs, max_err};
}

// Float weights: logits within this share of their largest magnitude (K/V are stored in f16).
constexpr double kFloatTolerance = 4e-3;

}  // namespace

class ForwardVsReference : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

// Quantised weights multiply 8-bit activations, whose rounding flips with any change of the
// inputs (the f16 K/V alone): their logits must be as close to the exact reference as the
// exact forward with its activations rounded the same way is (within 1.5x, plus the float
// tolerance), a bound that follows each shape's own sensitivity to that rounding.
TEST_P(ForwardVsReference, LogitsMatchDoublePrecision) {
  const auto& [shape, type] = GetParam();
  const std::string path = ModelPath(shape, type);
  auto m = OpenModel(path);
  ForwardContext ctx(2);
  const auto tokens = SomeTokens(10, m->hparams().n_vocab, 3);
  const auto got = RunInOrder(*m, ctx, tokens);
  const auto want = testing::ReferenceLogits(path, tokens);
  const auto [max_abs, max_err] = MaxAbsAndError(want, got);
  EXPECT_GT(max_abs, 1.0);  // the random model produces logits of order one
  double bound = kFloatTolerance * max_abs;
  if (kernels::VecDotType(*tensor::DTypeFromName(type == "q4_k_m" ? "q4_k" : type)) != tensor::DType::kF32) {
    const auto rounded = testing::ReferenceLogits(path, tokens, /*rounded_activations=*/true);
    std::vector<float> rounded_flat;
    for (const auto& row : rounded) rounded_flat.insert(rounded_flat.end(), row.begin(), row.end());
    const double rounding_noise = MaxAbsAndError(want, rounded_flat).second;
    EXPECT_GT(rounding_noise, kFloatTolerance * max_abs);  // the rounding is really exercised
    bound += 1.5 * rounding_noise;
  }
  EXPECT_LE(max_err, bound) << shape << " " << type << " max |logit| " << max_abs;
}

INSTANTIATE_TEST_SUITE_P(
    AllArchsAndTypes, ForwardVsReference,
    ::testing::Combine(::testing::Values("tiny", "tiny-qwen2", "tiny-qwen3", "tiny-llama3", "tiny-phi3",
                                         "tiny-gemma2", "tiny-gemma3"),
                       ::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0", "q5_0", "q4_k",
                                         "q5_k", "q6_k", "q4_k_m")),
    [](const auto& info) {
      const std::string shape = std::get<0>(info.param);
      return (shape == "tiny" ? std::string("llama_") : shape.substr(5) + "_") + std::get<1>(info.param);
    });

// The sliding-window shapes (windows of 8) over 80 tokens: window starts inside and across
// attention's 64-key tiles, on their sliding and their global layers.
TEST(ForwardVsReferenceLong, SlidingWindowsMatchDoublePrecision) {
  for (const char* shape : {"tiny-phi3", "tiny-gemma2", "tiny-gemma3"}) {
    const std::string path = ModelPath(shape, "f32");
    auto m = OpenModel(path);
    ASSERT_EQ(m->hparams().n_swa, 8) << shape;
    ForwardContext ctx(2);
    const auto tokens = SomeTokens(80, m->hparams().n_vocab, 4);
    const auto [max_abs, max_err] = MaxAbsAndError(testing::ReferenceLogits(path, tokens), RunInOrder(*m, ctx, tokens));
    EXPECT_LE(max_err, kFloatTolerance * max_abs) << shape << " max |logit| " << max_abs;
  }
}

TEST(ForwardContract, ShuffledBatchWithExplicitPositionsEqualsInOrder) {
  for (const char* shape : {"tiny", "tiny-qwen2", "tiny-qwen3", "tiny-llama3", "tiny-phi3", "tiny-gemma2", "tiny-gemma3"}) {
    auto m = OpenModel(ModelPath(shape, "q8_0"));
    ForwardContext ctx(2);
    const int n_vocab = m->hparams().n_vocab;
    const auto tokens = SomeTokens(12, n_vocab, 5);
    const auto in_order = RunInOrder(*m, ctx, tokens);

    std::vector<int> order(tokens.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(9));
    kv::KvManager kv(m->kv_geometry(), 64, 1);
    Scatter(kv, 0, 12);
    TokenBatch batch;
    for (int i : order) batch.Add(tokens[i], i, 0, kv.SlotOf(0, i), true);
    std::vector<float> shuffled;
    ASSERT_TRUE(m->Forward(ctx, batch, kv, shuffled).ok());
    for (size_t r = 0; r < order.size(); ++r)
      for (int v = 0; v < n_vocab; ++v)
        ASSERT_EQ(shuffled[r * n_vocab + v], in_order[order[r] * n_vocab + v]) << shape << " row " << r;
  }
}

// On every kernel table this CPU runs and every weight type: each table has its own GEMMs
// and single-row dots, which must agree bit for bit.
TEST(ForwardContract, IncrementalDecodeEqualsOneBatch) {
  std::vector<const kernels::KernelTable*> tables = {&kernels::RefKernels()};
  for (const char* name : {"avx2", "avx512"})
    if (const kernels::KernelTable* k = kernels::KernelsNamed(name)) tables.push_back(k);
  for (const char* type : {"q4_k_m", "q5_k_m", "q8_0", "q4_0", "q5_0"})
  for (const kernels::KernelTable* k : tables) {
    auto m = OpenModel(ModelPath("tiny", type));
    SCOPED_TRACE(std::string(k->name) + " " + type);
    ForwardContext ctx(2, *k);
    const int n_vocab = m->hparams().n_vocab;
    const auto tokens = SomeTokens(10, n_vocab, 6);
    const auto whole = RunInOrder(*m, ctx, tokens);
    // Prefill 6 tokens into scattered slots, then decode the rest one at a time.
    kv::KvManager kv(m->kv_geometry(), 64, 1);
    Scatter(kv, 0, 10);
    const std::vector<int> slots = kv.SlotsOf(0, 10);
    TokenBatch prefill;
    for (int i = 0; i < 6; ++i) prefill.Add(tokens[i], i, 0, slots[i], i == 5);
    std::vector<float> logits;
    ASSERT_TRUE(m->Forward(ctx, prefill, kv, logits).ok());
    for (int v = 0; v < n_vocab; ++v) ASSERT_EQ(logits[v], whole[5 * n_vocab + v]);
    for (int i = 6; i < 10; ++i) {
      TokenBatch step;
      step.Add(tokens[i], i, 0, slots[i], true);
      ASSERT_TRUE(m->Forward(ctx, step, kv, logits).ok());
      for (int v = 0; v < n_vocab; ++v) ASSERT_EQ(logits[v], whole[i * n_vocab + v]) << "step " << i;
    }
  }
}

// A batch longer than the FFN's block of tokens (256) gives every token the logits it gets in
// a batch of its own piece, bit for bit.
TEST(ForwardContract, ALongBatchEqualsItsPieces) {
  auto m = OpenModel(ModelPath("tiny", "q8_0"));
  ForwardContext ctx(2);
  const int n_vocab = m->hparams().n_vocab, n = 300, piece_size = 100;
  const auto tokens = SomeTokens(n, n_vocab, 9);
  std::vector<float> whole;
  {
    kv::KvManager kv(m->kv_geometry(), n, 16);
    ASSERT_TRUE(kv.Reserve(0, n).ok());
    TokenBatch batch;
    for (int i = 0; i < n; ++i) batch.Add(tokens[i], i, 0, i, true);
    ASSERT_TRUE(m->Forward(ctx, batch, kv, whole).ok());
  }
  kv::KvManager kv(m->kv_geometry(), n, 16);
  ASSERT_TRUE(kv.Reserve(0, n).ok());
  for (int begin = 0; begin < n; begin += piece_size) {
    TokenBatch piece;
    for (int i = begin; i < begin + piece_size; ++i) piece.Add(tokens[i], i, 0, i, true);
    std::vector<float> logits;
    ASSERT_TRUE(m->Forward(ctx, piece, kv, logits).ok());
    for (size_t x = 0; x < logits.size(); ++x)
      ASSERT_EQ(logits[x], whole[static_cast<size_t>(begin) * n_vocab + x]) << "token " << begin + x / n_vocab;
  }
}

// Rows read after the last layer run (RunLayers' read_rows) get the same bits as when every
// row runs the whole layer, and every row writes the same K/V, for a batch longer than the
// FFN's block of tokens and for none read at all.
TEST(ForwardContract, RowsReadAfterTheLastLayerAreTheSameBits) {
  auto m = OpenModel(ModelPath("tiny", "q8_0"));
  ForwardContext ctx(2);
  const int n = 300, n_embd = m->hparams().n_embd, n_layers = m->hparams().n_layers;
  const kv::KvGeometry g = m->kv_geometry();
  const auto tokens = SomeTokens(n, m->hparams().n_vocab, 11);
  TokenBatch batch;
  for (int i = 0; i < n; ++i) batch.Add(tokens[i], i, 0, i, false);
  const auto run = [&](const std::vector<int32_t>* read_rows, kv::KvManager& kv) {
    std::vector<float> hidden(static_cast<size_t>(n) * n_embd);
    m->Embed(batch, hidden.data());
    m->RunLayers(ctx, batch, 0, n_layers, hidden.data(), kv, read_rows);
    return hidden;
  };
  kv::KvManager kv_all(g, n, 16);
  ASSERT_TRUE(kv_all.Reserve(0, n).ok());
  const std::vector<float> all = run(nullptr, kv_all);
  for (const std::vector<int32_t>& read : {std::vector<int32_t>{0, 150, 299}, std::vector<int32_t>{}}) {
    kv::KvManager kv(g, n, 16);
    ASSERT_TRUE(kv.Reserve(0, n).ok());
    const std::vector<float> some = run(&read, kv);
    for (int32_t r : read)
      for (int j = 0; j < n_embd; ++j) ASSERT_EQ(some[r * n_embd + j], all[r * n_embd + j]) << "row " << r;
    if (read.empty()) {
      EXPECT_NE(some, all) << "the rows not read skipped the last feed-forward";
    }
    for (int layer = 0; layer < n_layers; ++layer)
      for (int h = 0; h < g.n_kv_heads; ++h)
        for (int slot = 0; slot < n; ++slot) {
          ASSERT_TRUE(std::equal(kv.cache().k(layer, h, slot), kv.cache().k(layer, h, slot) + g.head_dim,
                                 kv_all.cache().k(layer, h, slot)));
          ASSERT_TRUE(std::equal(kv.cache().v(layer, h, slot), kv.cache().v(layer, h, slot) + g.head_dim,
                                 kv_all.cache().v(layer, h, slot)));
        }
  }
}

// Sliding windows over more than one 64-key attention tile: a token decoded alone, whose
// window starts mid-tile, gets the logits it gets inside one batch, bit for bit, on every table.
TEST(ForwardContract, WindowedDecodeEqualsOneBatch) {
  std::vector<const kernels::KernelTable*> tables = {&kernels::RefKernels()};
  for (const char* name : {"avx2", "avx512"})
    if (const kernels::KernelTable* k = kernels::KernelsNamed(name)) tables.push_back(k);
  for (const char* shape : {"tiny-phi3", "tiny-gemma2", "tiny-gemma3"})
    for (const kernels::KernelTable* k : tables) {
      auto m = OpenModel(ModelPath(shape, "q8_0"));
      SCOPED_TRACE(std::string(k->name) + " " + shape);
      ForwardContext ctx(2, *k);
      const int n_vocab = m->hparams().n_vocab, n = 90, n_prefill = 70;
      const auto tokens = SomeTokens(n, n_vocab, 8);
      const auto whole = RunInOrder(*m, ctx, tokens);
      kv::KvManager kv(m->kv_geometry(), 128, 16);
      ASSERT_TRUE(kv.Reserve(0, n).ok());
      TokenBatch prefill;
      for (int i = 0; i < n_prefill; ++i) prefill.Add(tokens[i], i, 0, kv.SlotOf(0, i), i == n_prefill - 1);
      std::vector<float> logits;
      ASSERT_TRUE(m->Forward(ctx, prefill, kv, logits).ok());
      for (int v = 0; v < n_vocab; ++v) ASSERT_EQ(logits[v], whole[(n_prefill - 1) * n_vocab + v]);
      for (int i = n_prefill; i < n; ++i) {
        TokenBatch step;
        step.Add(tokens[i], i, 0, kv.SlotOf(0, i), true);
        ASSERT_TRUE(m->Forward(ctx, step, kv, logits).ok());
        for (int v = 0; v < n_vocab; ++v) ASSERT_EQ(logits[v], whole[i * n_vocab + v]) << "step " << i;
      }
    }
}

TEST(ForwardContract, LayerRangesCompose) {
  auto m = OpenModel(ModelPath("tiny-qwen2", "q8_0"));
  ForwardContext ctx(2);
  const auto tokens = SomeTokens(8, m->hparams().n_vocab, 7);
  const auto whole = RunInOrder(*m, ctx, tokens);
  kv::KvManager kv(m->kv_geometry(), 64, 16);
  ASSERT_TRUE(kv.Reserve(0, 8).ok());
  TokenBatch batch;
  for (int i = 0; i < 8; ++i) batch.Add(tokens[i], i, 0, i, true);
  const int n_embd = m->hparams().n_embd, n_vocab = m->hparams().n_vocab;
  std::vector<float> hidden(8 * n_embd), logits(8 * n_vocab);
  m->Embed(batch, hidden.data());
  m->RunLayers(ctx, batch, 0, 1, hidden.data(), kv);
  m->RunLayers(ctx, batch, 1, m->hparams().n_layers, hidden.data(), kv);
  m->Logits(ctx, hidden.data(), 8, logits.data());
  EXPECT_EQ(logits, whole);
}

TEST(ForwardContract, SequencesInOneBatchDoNotSeeEachOther) {
  auto m = OpenModel(ModelPath("tiny", "q8_0"));
  ForwardContext ctx(2);
  const int n_vocab = m->hparams().n_vocab;
  const auto a = SomeTokens(6, n_vocab, 11), b = SomeTokens(6, n_vocab, 12);
  const auto alone_a = RunInOrder(*m, ctx, a), alone_b = RunInOrder(*m, ctx, b);
  kv::KvManager kv(m->kv_geometry(), 64, 1);  // one-token blocks, taken in turn: slots interleave
  for (int i = 1; i <= 6; ++i) ASSERT_TRUE(kv.Reserve(0, i).ok() && kv.Reserve(1, i).ok());
  TokenBatch batch;
  for (int i = 0; i < 6; ++i) {
    batch.Add(a[i], i, 0, kv.SlotOf(0, i), true);
    batch.Add(b[i], i, 1, kv.SlotOf(1, i), true);
  }
  std::vector<float> logits;
  ASSERT_TRUE(m->Forward(ctx, batch, kv, logits).ok());
  for (int i = 0; i < 6; ++i)
    for (int v = 0; v < n_vocab; ++v) {
      ASSERT_EQ(logits[(2 * i) * n_vocab + v], alone_a[i * n_vocab + v]);
      ASSERT_EQ(logits[(2 * i + 1) * n_vocab + v], alone_b[i * n_vocab + v]);
    }
}

TEST(ForwardContract, InvalidBatchesAreRejected) {
  auto m = OpenModel(ModelPath("tiny", "q8_0"));
  ForwardContext ctx(1);
  kv::KvManager kv(m->kv_geometry(), 8, 4);
  ASSERT_TRUE(kv.Reserve(0, 4).ok());
  std::vector<float> logits;
  auto expect_error = [&](TokenBatch b, const std::string& fragment) {
    const util::Status st = m->Forward(ctx, b, kv, logits);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
  };
  TokenBatch b;
  expect_error(b, "empty");
  b.Add(m->hparams().n_vocab, 0, 0, 0, true);
  expect_error(b, "outside the vocabulary");
  b.Clear();
  b.Add(1, 0, 0, 8, true);
  expect_error(b, "outside the cache");
  b.Clear();
  b.Add(1, 0, 0, 2, false);
  b.Add(2, 1, 0, 2, true);
  expect_error(b, "written twice");
  b.Clear();
  b.Add(1, -1, 0, 0, true);
  expect_error(b, "negative position");
  b.Clear();
  b.Add(1, 1, 0, kv.SlotOf(0, 1) + 1, true);  // another position's slot
  expect_error(b, "is not where sequence 0 keeps position 1");
  b.Clear();
  b.Add(1, 4, 0, 5, true);
  expect_error(b, "has no KV block");
}

TEST(ModelLoad, MissingTensorsAndUnknownArchsAreClearErrors) {
  std::filesystem::create_directories(KVFUSE_TEST_TMP);
  const std::string path = std::string(KVFUSE_TEST_TMP) + "/broken-" + std::to_string(getpid()) + ".gguf";
  gguf::GgufWriter w;
  w.Set("general.architecture", gguf::Value::String("llama"));
  w.Set("llama.embedding_length", gguf::Value::Uint32(64));
  w.Set("llama.block_count", gguf::Value::Uint32(1));
  w.Set("llama.feed_forward_length", gguf::Value::Uint32(128));
  w.Set("llama.attention.head_count", gguf::Value::Uint32(4));
  ASSERT_TRUE(w.Write(path).ok());
  auto r = Model::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("token_embd.weight"), std::string::npos) << r.status().message();

  w.Set("general.architecture", gguf::Value::String("mamba"));
  ASSERT_TRUE(w.Write(path).ok());
  r = Model::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mamba"), std::string::npos);

  w.Set("general.architecture", gguf::Value::String("llama"));
  w.Set("llama.attention.head_count", gguf::Value::Uint32(0));
  ASSERT_TRUE(w.Write(path).ok());
  r = Model::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("head_count"), std::string::npos);

  // Linear RoPE scaling is read (a factor without a type, and the older rope.scale_linear,
  // are linear too; 0 and 1 ask for nothing); other variants are refused by name.
  w.Set("llama.attention.head_count", gguf::Value::Uint32(4));
  const auto freq_scale_of = [&](gguf::GgufWriter& writer) -> util::Result<float> {
    EXPECT_TRUE(writer.Write(path).ok());
    auto file = gguf::GgufFile::Open(path);
    if (!file.ok()) return file.status();
    auto hp = ReadHParams(file.value());
    if (!hp.ok()) return hp.status();
    return hp.value().rope_freq_scale;
  };
  w.Set("llama.rope.scaling.type", gguf::Value::String("yarn"));
  w.Set("llama.rope.scaling.factor", gguf::Value::Float32(4.0f));
  auto scale = freq_scale_of(w);
  ASSERT_FALSE(scale.ok());
  EXPECT_NE(scale.status().message().find("RoPE scaling 'yarn' (factor 4) is not implemented"), std::string::npos)
      << scale.status().message();
  w.Set("llama.rope.scaling.type", gguf::Value::String("linear"));
  scale = freq_scale_of(w);
  ASSERT_TRUE(scale.ok()) << scale.status().message();
  EXPECT_EQ(scale.value(), 0.25f);
  for (const auto& [type, factor] : {std::pair{"none", 4.0f}, {"linear", 1.0f}, {"yarn", 1.0f}, {"linear", 0.0f}}) {
    w.Set("llama.rope.scaling.type", gguf::Value::String(type));
    w.Set("llama.rope.scaling.factor", gguf::Value::Float32(factor));
    scale = freq_scale_of(w);
    ASSERT_TRUE(scale.ok()) << type << " " << factor << ": " << scale.status().message();
    EXPECT_EQ(scale.value(), 1.0f) << type << " " << factor << " asks for nothing";
  }
  {
    gguf::GgufWriter old_style;  // the older key alone, no type: linear scaling
    old_style.Set("general.architecture", gguf::Value::String("llama"));
    old_style.Set("llama.embedding_length", gguf::Value::Uint32(64));
    old_style.Set("llama.block_count", gguf::Value::Uint32(1));
    old_style.Set("llama.feed_forward_length", gguf::Value::Uint32(128));
    old_style.Set("llama.attention.head_count", gguf::Value::Uint32(4));
    old_style.Set("llama.rope.scale_linear", gguf::Value::Float32(2.0f));
    scale = freq_scale_of(old_style);
    ASSERT_TRUE(scale.ok()) << scale.status().message();
    EXPECT_EQ(scale.value(), 0.5f);
  }
  unlink(path.c_str());
}

// What the new families need from a file: phi3's window (or a published model's default),
// no LongRoPE; Gemma's windows and caps read with their defaults; every family's switches.
TEST(ModelLoad, FamilyKeysAreReadOrRefused) {
  std::filesystem::create_directories(KVFUSE_TEST_TMP);
  const std::string path = std::string(KVFUSE_TEST_TMP) + "/family-" + std::to_string(getpid()) + ".gguf";
  const auto hparams_of = [&](gguf::GgufWriter& writer) -> util::Result<HParams> {
    EXPECT_TRUE(writer.Write(path).ok());
    auto file = gguf::GgufFile::Open(path);
    if (!file.ok()) return file.status();
    return ReadHParams(file.value());
  };
  const auto writer_of = [](const std::string& arch, int n_layers, int n_ctx) {
    gguf::GgufWriter w;
    w.Set("general.architecture", gguf::Value::String(arch));
    w.Set(arch + ".embedding_length", gguf::Value::Uint32(64));
    w.Set(arch + ".block_count", gguf::Value::Uint32(n_layers));
    w.Set(arch + ".feed_forward_length", gguf::Value::Uint32(128));
    w.Set(arch + ".attention.head_count", gguf::Value::Uint32(4));
    w.Set(arch + ".context_length", gguf::Value::Uint32(n_ctx));
    return w;
  };
  gguf::GgufWriter phi = writer_of("phi3", 2, 8192);
  auto hp = hparams_of(phi);
  ASSERT_FALSE(hp.ok());
  EXPECT_NE(hp.status().message().find("phi3.attention.sliding_window"), std::string::npos) << hp.status().message();
  phi = writer_of("phi3", 32, 4096);  // Phi-3 mini 4k converted before the key existed
  hp = hparams_of(phi);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp.value().n_swa, 2047);
  EXPECT_TRUE(hp.value().fused_qkv && hp.value().fused_gate_up && hp.value().rope_neox);
  EXPECT_TRUE(SlidingLayer(hp.value(), 0) && SlidingLayer(hp.value(), 31));
  phi.Set("phi3.attention.sliding_window", gguf::Value::Uint32(0));  // Phi-4: none
  hp = hparams_of(phi);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_FALSE(SlidingLayer(hp.value(), 0));
  ASSERT_TRUE(phi.AddTensor("rope_factors_long.weight", tensor::DType::kF32, {8}, std::vector<uint8_t>(32)).ok());
  hp = hparams_of(phi);
  ASSERT_FALSE(hp.ok());
  EXPECT_NE(hp.status().message().find("LongRoPE"), std::string::npos) << hp.status().message();

  gguf::GgufWriter gemma2 = writer_of("gemma2", 26, 8192);
  hp = hparams_of(gemma2);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp.value().n_swa, 4096);
  EXPECT_EQ(hp.value().attn_softcap, 50.0f);
  EXPECT_EQ(hp.value().final_softcap, 30.0f);
  EXPECT_EQ(hp.value().embd_scale, 8.0f);
  EXPECT_TRUE(SlidingLayer(hp.value(), 0) && !SlidingLayer(hp.value(), 1) && SlidingLayer(hp.value(), 2));
  EXPECT_FLOAT_EQ(AttentionScale(hp.value()), 0.25f);  // 1 / sqrt(head_dim 16)

  gguf::GgufWriter gemma3 = writer_of("gemma3", 12, 8192);
  gemma3.Set("gemma3.attention.sliding_window", gguf::Value::Uint32(512));
  gemma3.Set("gemma3.rope.freq_base", gguf::Value::Float32(1e6f));
  hp = hparams_of(gemma3);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp.value().n_swa, 512);
  EXPECT_EQ(hp.value().attn_softcap, 0.0f);
  for (int l = 0; l < 12; ++l) {
    EXPECT_EQ(SlidingLayer(hp.value(), l), l != 5 && l != 11) << l;
    EXPECT_EQ(RopeOf(hp.value(), l).theta_base, l == 5 || l == 11 ? 1e6f : 10000.0f) << l;
  }
  gemma3.Set("gemma3.attention.sliding_window", gguf::Value::Uint32(0));  // no window: local RoPE stays
  hp = hparams_of(gemma3);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_FALSE(SlidingLayer(hp.value(), 0));
  EXPECT_EQ(RopeOf(hp.value(), 0).theta_base, 10000.0f);
  gemma3.Set("gemma3.attention.sliding_window", gguf::Value::String("1024"));
  hp = hparams_of(gemma3);
  ASSERT_FALSE(hp.ok());
  EXPECT_NE(hp.status().message().find("gemma3.attention.sliding_window"), std::string::npos) << hp.status().message();
  unlink(path.c_str());
}

// Llama 3's RoPE frequency factors must be one positive f32 per rotated pair.
TEST(ModelLoad, RopeFrequencyFactorsAreChecked) {
  const std::string path = ModelPath("tiny-llama3", "f32");
  ASSERT_TRUE(OpenModel(path));
  EXPECT_EQ(OpenModel(path)->hparams().rope_freq_factors.size(), 32u);
  auto file = gguf::GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  const std::string bad = path + ".bad.gguf";
  for (const auto& [n, value] : {std::pair{32, 0.0f}, {32, -1.0f}, {31, 1.0f}}) {
    gguf::GgufWriter w;  // the model with its factors replaced
    for (const auto& [key, v] : file.value().metadata()) w.Set(key, v);
    for (const auto& t : file.value().tensors()) {
      if (t.name == "rope_freqs.weight") continue;
      ASSERT_TRUE(w.AddTensor(t.name, t.type, t.dims, std::vector<uint8_t>(t.data, t.data + t.n_bytes)).ok());
    }
    std::vector<float> factors(n, 1.0f);
    factors[n - 1] = value;
    const auto* bytes = reinterpret_cast<const uint8_t*>(factors.data());
    ASSERT_TRUE(w.AddTensor("rope_freqs.weight", tensor::DType::kF32, {n},
                            std::vector<uint8_t>(bytes, bytes + n * sizeof(float))).ok());
    ASSERT_TRUE(w.Write(bad).ok());
    auto r = Model::Open(bad);
    ASSERT_FALSE(r.ok()) << n << " factors, the last " << value;
    EXPECT_NE(r.status().message().find("rope_freqs.weight"), std::string::npos) << r.status().message();
  }
  unlink(bad.c_str());
}

}  // namespace kvfuse::model
