// The SentencePiece tokenizer against the Llama-2 vocabulary's expected tokenizations
// (made by Hugging Face tokenizers; see shared/vocab/README.md).
#include "tokenizer/spm_tokenizer.h"

#include <gtest/gtest.h>

#include "vocab_cases.h"

namespace kvfuse::tokenizer {

namespace {

using namespace testing;

SpmTokenizer LoadLlamaSpm() {
  auto file = gguf::GgufFile::Open(std::string(KVFUSE_TEST_DATA) + "/vocab/ggml-vocab-llama-spm.gguf");
  EXPECT_TRUE(file.ok()) << file.status().message();
  auto vocab = ReadVocab(file.value());
  EXPECT_TRUE(vocab.ok()) << vocab.status().message();
  auto tok = SpmTokenizer::Create(std::move(vocab).value());
  EXPECT_TRUE(tok.ok());
  return std::move(tok).value();
}

}  // namespace

TEST(SpmTokenizer, LlamaSpmMatchesReferenceTokenizations) {
  const SpmTokenizer tok = LoadLlamaSpm();
  const auto cases = LoadCases(std::string(KVFUSE_TEST_DATA) + "/vocab/ggml-vocab-llama-spm.gguf");
  ASSERT_EQ(cases.size(), 46u);
  for (const Case& c : cases) EXPECT_EQ(tok.Encode(c.text, false), c.ids) << "text: [" << c.text << "]";
}

TEST(SpmTokenizer, BosIsAddedWhenAsked) {
  const SpmTokenizer tok = LoadLlamaSpm();
  const auto ids = tok.Encode("Hello", true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);
}

TEST(SpmTokenizer, DecodeInvertsEncode) {
  const SpmTokenizer tok = LoadLlamaSpm();
  for (const std::string text : {"Hello world", "  two spaces", "ünïcödé 🦙 and 中文", "a\nb\tc"})
    EXPECT_EQ(tok.Decode(tok.Encode(text, false)), text);
}

TEST(SpmTokenizer, OtherTokenizerModelsAreRefusedClearly) {
  Vocab v;
  v.model = "gpt2";
  auto r = SpmTokenizer::Create(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("gpt2"), std::string::npos);
}

}  // namespace kvfuse::tokenizer
