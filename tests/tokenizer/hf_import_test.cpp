// ImportHfTokenizer on small hand-written tokenizer.json files: what it maps, and a clear
// error (never a crash or a silent approximation) for what it cannot represent. The four
// real tokenizers are checked against reference ids in hf_tokenizer_test.
#include "tokenizer/hf_import.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tokenizer/tokenizer.h"

namespace kvfuse::tokenizer {

namespace {

std::string WriteTokenizer(const std::string& name, const std::string& tokenizer_json, const std::string& config_json = "") {
  const std::string dir = std::string(KVFUSE_TEST_TMP) + "/hf_import/" + name;
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokenizer.json") << tokenizer_json;
  if (!config_json.empty()) std::ofstream(dir + "/tokenizer_config.json") << config_json;
  return dir;
}

// A byte-level BPE whose pre-tokenizer part and normalizer are the arguments.
std::string ByteLevelJson(const std::string& pre_parts, const std::string& normalizer = "null") {
  return R"({"normalizer": )" + normalizer + R"(, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [)" + pre_parts +
         R"(]}, "added_tokens": [{"id": 4, "content": "<|end|>", "special": true}, {"id": 5, "content": "<tool>", "special": false}],
         "model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "hi": 2, "Ġ": 3}, "merges": [["h", "i"]]}})";
}

std::string StatusOf(const std::string& dir) {
  auto v = ImportHfTokenizer(dir);
  return v.ok() ? "ok" : v.status().message();
}

}  // namespace

TEST(HfImport, ByteLevelBpeMapsTokensTypesAndSpecials) {
  const std::string dir = WriteTokenizer("gpt2", ByteLevelJson(R"({"type": "ByteLevel", "use_regex": true})"),
                                         R"({"eos_token": "<|end|>", "chat_template": "{{ messages }}"})");
  auto v = ImportHfTokenizer(dir);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->model, "gpt2");
  EXPECT_EQ(v->pre, "gpt-2");
  EXPECT_EQ(v->merges, std::vector<std::string>{"h i"});
  EXPECT_EQ(v->tokens, (std::vector<std::string>{"h", "i", "hi", "Ġ", "<|end|>", "<tool>"}));
  EXPECT_EQ(v->types[4], TokenType::kControl);
  EXPECT_EQ(v->types[5], TokenType::kUserDefined);
  EXPECT_EQ(v->eos_id, 4);
  EXPECT_FALSE(v->add_bos);
  EXPECT_EQ(v->chat_template, "{{ messages }}");
  auto tok = CreateTokenizer(std::move(v).value());
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ(tok.value()->Encode("hi<tool>hi<|end|>", false, true), (std::vector<int32_t>{2, 5, 2, 4}));
}

TEST(HfImport, SentencePieceBpeScoresFollowMergeOrder) {
  // "b c" ranks before "a b": "abc" must become a + bc, as Hugging Face's BPE merges it.
  const std::string json = R"({"normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
    "pre_tokenizer": null, "added_tokens": [{"id": 0, "content": "<unk>", "special": true}],
    "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
              "vocab": {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "bc": 5, "▁": 6, "<0x21>": 7},
              "merges": ["b c", "a b"]}})";
  auto v = ImportHfTokenizer(WriteTokenizer("spm", json));
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->model, "llama");
  EXPECT_FALSE(v->add_space_prefix);
  EXPECT_GT(v->scores[5], v->scores[4]);
  EXPECT_EQ(v->types[7], TokenType::kByte);
  EXPECT_EQ(v->types[0], TokenType::kUnknown);
  auto tok = CreateTokenizer(std::move(v).value());
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ(tok.value()->Encode("abc !", false), (std::vector<int32_t>{1, 5, 6, 7}));
}

TEST(HfImport, WhatItCannotRepresentIsAClearError) {
  EXPECT_NE(StatusOf(std::string(KVFUSE_TEST_TMP) + "/hf_import/no-such-dir").find("cannot read"), std::string::npos);
  EXPECT_NE(StatusOf(WriteTokenizer("bad-json", "{\"model\": ")).find("not valid JSON"), std::string::npos);
  EXPECT_NE(StatusOf(WriteTokenizer("wordpiece", R"({"model": {"type": "WordPiece", "vocab": {}}})")).find("WordPiece"),
            std::string::npos);
  const std::string unknown_split = ByteLevelJson(
      R"({"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false})");
  EXPECT_NE(StatusOf(WriteTokenizer("unknown-split", unknown_split)).find("not recognised"), std::string::npos);
  const std::string nfkc = ByteLevelJson(R"({"type": "ByteLevel", "use_regex": true})", R"({"type": "NFKC"})");
  EXPECT_NE(StatusOf(WriteTokenizer("nfkc", nfkc)).find("NFKC"), std::string::npos);
  const std::string bad_id = R"({"added_tokens": [{"id": "seven", "content": "x"}], "pre_tokenizer": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  EXPECT_NE(StatusOf(WriteTokenizer("bad-id", bad_id)).find("malformed"), std::string::npos);
  const std::string no_fallback = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  EXPECT_NE(StatusOf(WriteTokenizer("no-fallback", no_fallback)).find("byte_fallback"), std::string::npos);
}

}  // namespace kvfuse::tokenizer
