#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"

namespace kvfuse::gguf {

TEST(GgufRoundTrip, WriterOutputReadsBackIdentically) {
  GgufWriter w(64);
  w.Set("general.architecture", Value::String("llama"));
  w.Set("a.u32", Value::Uint32(123456));
  w.Set("a.i32", Value::Int32(-5));
  w.Set("a.u64", Value::Uint64(1ull << 40));
  w.Set("a.f32", Value::Float32(0.25f));
  w.Set("a.bool", Value::Bool(true));
  w.Set("a.strings", Value::StringArray({"x", "", "\xE2\x96\x81hello"}));
  w.Set("a.floats", Value::Float32Array({1.5, -2.0}));
  w.Set("a.ints", Value::Int32Array({1, -1, 7}));
  std::vector<uint8_t> f32(3 * 2 * 4);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = static_cast<uint8_t>(i);
  ASSERT_TRUE(w.AddTensor("t0", tensor::DType::kF32, {3, 2}, f32).ok());
  std::vector<uint8_t> q8(34 * 2, 9);
  ASSERT_TRUE(w.AddTensor("t1", tensor::DType::kQ8_0, {64}, q8).ok());
  EXPECT_FALSE(w.AddTensor("bad", tensor::DType::kQ8_0, {33}, q8).ok());

  std::filesystem::create_directories(KVFUSE_TEST_TMP);
  const std::string path = std::string(KVFUSE_TEST_TMP) + "/roundtrip-" + std::to_string(getpid()) + ".gguf";
  ASSERT_TRUE(w.Write(path).ok());
  auto r = GgufFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& g = r.value();
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 64u);
  EXPECT_EQ(g.GetString("general.architecture").value(), "llama");
  EXPECT_EQ(g.GetInt("a.u32").value(), 123456);
  EXPECT_EQ(g.GetInt("a.i32").value(), -5);
  EXPECT_EQ(g.GetInt("a.u64").value(), 1ll << 40);
  EXPECT_FLOAT_EQ(g.GetFloat("a.f32").value(), 0.25f);
  EXPECT_TRUE(g.GetBool("a.bool").value());
  EXPECT_EQ(g.Find("a.strings")->texts, (std::vector<std::string>{"x", "", "\xE2\x96\x81hello"}));
  EXPECT_EQ(g.Find("a.floats")->reals, (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(g.Find("a.ints")->integers, (std::vector<int64_t>{1, -1, 7}));
  EXPECT_FALSE(g.GetInt("general.architecture").ok());
  EXPECT_FALSE(g.GetString("missing.key").ok());

  ASSERT_EQ(g.tensors().size(), 2u);
  const TensorInfo* t0 = g.FindTensor("t0");
  ASSERT_NE(t0, nullptr);
  EXPECT_EQ(t0->dims, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(std::vector<uint8_t>(t0->data, t0->data + t0->n_bytes), f32);
  const TensorInfo* t1 = g.FindTensor("t1");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->type, tensor::DType::kQ8_0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t1->data) % 64, 0u);
  EXPECT_EQ(std::vector<uint8_t>(t1->data, t1->data + t1->n_bytes), q8);

  // Dropping the arrays keeps every other key, found as before, and the tensors.
  const auto scalars = std::count_if(g.metadata().begin(), g.metadata().end(),
                                    [](const auto& entry) { return !entry.second.is_array(); });
  GgufFile dropped = std::move(r).value();
  dropped.DropArrays();
  for (const char* key : {"a.strings", "a.floats", "a.ints"}) EXPECT_EQ(dropped.Find(key), nullptr) << key;
  EXPECT_EQ(static_cast<std::ptrdiff_t>(dropped.metadata().size()), scalars);
  EXPECT_EQ(dropped.GetString("general.architecture").value(), "llama");
  EXPECT_EQ(dropped.GetInt("a.u64").value(), 1ll << 40);
  EXPECT_TRUE(dropped.GetBool("a.bool").value());
  EXPECT_EQ(dropped.FindTensor("t1")->n_bytes, q8.size());
  unlink(path.c_str());
}

TEST(GgufRoundTrip, RealVocabularyFileLoads) {
  auto r = GgufFile::Open(std::string(KVFUSE_TEST_DATA) + "/vocab/ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->GetString("tokenizer.ggml.model").value(), "llama");
  EXPECT_EQ(r->Find("tokenizer.ggml.tokens")->texts.size(), 32000u);
  EXPECT_EQ(r->Find("tokenizer.ggml.tokens")->texts[1], "<s>");
}

}  // namespace kvfuse::gguf
