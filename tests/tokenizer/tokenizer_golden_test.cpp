// Every vocabulary of shared/vocab with expectations, through CreateTokenizer: the ids
// must equal those of the model's reference (Hugging Face) tokenizer exactly, and
// byte-level BPE must decode back to the input.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "gguf/gguf_reader.h"
#include "tokenizer/tokenizer.h"
#include "vocab_cases.h"

namespace kvfuse::tokenizer {

namespace {

using namespace testing;

std::unique_ptr<Tokenizer> Load(const std::string& name) {
  auto file = gguf::GgufFile::Open(VocabPath(name));
  EXPECT_TRUE(file.ok()) << file.status().message();
  auto vocab = ReadVocab(file.value());
  EXPECT_TRUE(vocab.ok()) << vocab.status().message();
  auto tok = CreateTokenizer(std::move(vocab).value());
  EXPECT_TRUE(tok.ok()) << tok.status().message();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

class Golden : public ::testing::TestWithParam<const char*> {};

}  // namespace

TEST_P(Golden, MatchesReferenceTokenizations) {
  const auto tok = Load(GetParam());
  ASSERT_NE(tok, nullptr);
  const auto cases = LoadCases(VocabPath(GetParam()));
  ASSERT_EQ(cases.size(), 46u);
  for (const Case& c : cases) EXPECT_EQ(tok->Encode(c.text, false), c.ids) << GetParam() << " text: [" << c.text << "]";
}

class ByteLevel : public ::testing::TestWithParam<const char*> {};

TEST_P(ByteLevel, DecodesBackToTheInput) {
  const auto tok = Load(GetParam());
  ASSERT_NE(tok, nullptr);
  for (const Case& c : LoadCases(VocabPath(GetParam())))
    EXPECT_EQ(tok->Decode(tok->Encode(c.text, false)), c.text) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(SharedVocab, Golden,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "mpt", "starcoder", "refact", "falcon",
                                           "deepseek-coder", "deepseek-llm", "bert-bge"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) if (ch == '-') ch = '_';
                           return name;
                         });

INSTANTIATE_TEST_SUITE_P(SharedVocab, ByteLevel,
                         ::testing::Values("gpt-2", "mpt", "starcoder", "refact", "falcon", "deepseek-coder",
                                           "deepseek-llm"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) if (ch == '-') ch = '_';
                           return name;
                         });

TEST(Tokenizer, UnknownModelsAndPreTokenizersAreClearErrors) {
  Vocab v;
  v.model = "t5";
  auto r = CreateTokenizer(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("t5"), std::string::npos);
  v.model = "gpt2";
  v.tokens = {"a", "b"};
  v.merges = {"a b"};
  v.pre = "no-such-pre";
  r = CreateTokenizer(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no-such-pre"), std::string::npos);
}

}  // namespace kvfuse::tokenizer

#include "tokenizer/stream_decoder.h"

namespace kvfuse::tokenizer {

TEST(StreamDecoder, NeverEmitsBrokenUtf8AndReassemblesTheText) {
  const auto tok = Load("gpt-2");
  ASSERT_NE(tok, nullptr);
  const std::string text = "Emoji 🦙🦙 and 中文 and Ω — done";
  StreamDecoder stream(*tok);
  std::string joined;
  for (int32_t id : tok->Encode(text, false)) {
    const std::string part = stream.Push(id);
    EXPECT_EQ(CompleteUtf8Prefix(part), part.size()) << "a partial character was emitted";
    joined += part;
  }
  joined += stream.Flush();
  EXPECT_EQ(joined, text);
}

TEST(StreamDecoder, AnUnfinishedCharacterAtTheEndBecomesAReplacementCharacter) {
  EXPECT_EQ(CompleteUtf8Prefix("ab\xF0\x9F"), 2u);
  EXPECT_EQ(CompleteUtf8Prefix("ab\xF0\x9F\xA6\x99"), 6u);
  EXPECT_EQ(CompleteUtf8Prefix("\xE4\xB8"), 0u);
  EXPECT_EQ(ReplaceInvalidUtf8("\xE0\x80\x80" "\xED\xA0\x80"), std::string(
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));  // overlong, surrogate
  EXPECT_EQ(ReplaceInvalidUtf8("a\x80" "b\xC0\xAF" "c\xE4\xB8\xAD"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD" "c\xE4\xB8\xAD");
}

}  // namespace kvfuse::tokenizer

namespace kvfuse::tokenizer {

TEST(Tokenizer, ControlTokensAreParsedOnlyWhenAsked) {
  const auto gpt2 = Load("gpt-2");
  ASSERT_NE(gpt2, nullptr);
  EXPECT_EQ(gpt2->Encode("a<|endoftext|>b", false, true), (std::vector<int32_t>{64, 50256, 65}));
  const auto literal = gpt2->Encode("a<|endoftext|>b", false, false);
  EXPECT_GT(literal.size(), 3u);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 50256), 0);
  EXPECT_EQ(gpt2->Decode(literal), "a<|endoftext|>b");

  const auto spm = Load("llama-spm");
  ASSERT_NE(spm, nullptr);
  const auto ids = spm->Encode("Hi</s>there", true, true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), 1);  // BOS
  EXPECT_NE(std::find(ids.begin(), ids.end(), 2), ids.end());  // </s> parsed
  const auto spm_literal = spm->Encode("Hi</s>there", false, false);
  EXPECT_EQ(std::count(spm_literal.begin(), spm_literal.end(), 2), 0);
}

}  // namespace kvfuse::tokenizer

namespace kvfuse::tokenizer {

TEST(Tokenizer, BertWrapsTextInClsAndSep) {
  const auto bert = Load("bert-bge");
  ASSERT_NE(bert, nullptr);
  EXPECT_EQ(bert->Encode("Hello", true), (std::vector<int32_t>{101, 7592, 102}));
}

// The server tokenizes on many HTTP threads at once; a regex's match data shared between
// threads once made pieces point past their text (found by 32 concurrent clients).
TEST(Tokenizer, EncodesTheSameOnManyThreadsAtOnce) {
  for (const char* name : {"deepseek-llm", "llama-spm"}) {
    const auto tok = Load(name);
    ASSERT_NE(tok, nullptr);
    const auto cases = LoadCases(VocabPath(name));
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, 0);
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int round = 0; round < 20; ++round)
          for (const Case& c : cases) mismatches[t] += tok->Encode(c.text, false) != c.ids;
      });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << name << " thread " << t;
  }
}

}  // namespace kvfuse::tokenizer
