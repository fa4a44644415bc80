// ImportHfTokenizer on small hand-written tokenizer.json files: what it maps, and a clear
// error (never a crash or a silent approximation) for what it cannot represent. The six
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
  EXPECT_NE(StatusOf(WriteTokenizer("bad-id", bad_id)).find("without a valid id"), std::string::npos);
  const std::string bad_type = R"({"pre_tokenizer": {"type": 5}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  EXPECT_NE(StatusOf(WriteTokenizer("bad-type", bad_type)).find("malformed"), std::string::npos);
  const std::string no_fallback = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  EXPECT_NE(StatusOf(WriteTokenizer("no-fallback", no_fallback)).find("byte_fallback"), std::string::npos);
  const std::string huge_id = R"({"pre_tokenizer": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 9223372036854775807}, "merges": []}})";
  EXPECT_NE(StatusOf(WriteTokenizer("huge-id", huge_id)).find("is not in 0.."), std::string::npos);
  EXPECT_NE(StatusOf(WriteTokenizer("deep", std::string(100000, '[') + std::string(100000, ']'))).find("deeper than"),
            std::string::npos);
  const std::string lstrip = R"({"pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": [{"id": 1, "content": "<m>", "lstrip": true}],
    "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  EXPECT_NE(StatusOf(WriteTokenizer("lstrip", lstrip)).find("lstrip"), std::string::npos);
  // Qwen's expression without the NFC normalizer Qwen's file has: not Qwen's pre-tokenizer.
  const std::string qwen_split = R"({"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false})";
  EXPECT_NE(StatusOf(WriteTokenizer("qwen-no-nfc", ByteLevelJson(qwen_split))).find("NFC"), std::string::npos);
  EXPECT_EQ(StatusOf(WriteTokenizer("qwen-nfc", ByteLevelJson(qwen_split, R"({"type": "NFC"})"))), "ok");
}

TEST(HfImport, BosFollowsPythonTransformers) {
  const std::string bos_template = R"({"pre_tokenizer": {"type": "ByteLevel"},
    "added_tokens": [{"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}],
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}]},
    "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  // Another class: the post-processor's template decides; the config's flag is not read.
  auto plain = ImportHfTokenizer(WriteTokenizer("bos-template", bos_template, R"({"bos_token": "<s>", "add_bos_token": false})"));
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_TRUE(plain->add_bos);
  EXPECT_FALSE(plain->add_eos);
  // Llama's class: the config decides, add_bos_token defaulting to true.
  auto llama = ImportHfTokenizer(WriteTokenizer("bos-llama", bos_template, R"({"tokenizer_class": "LlamaTokenizerFast",
    "bos_token": "<s>", "eos_token": "</s>", "add_eos_token": true})"));
  ASSERT_TRUE(llama.ok()) << llama.status().message();
  EXPECT_TRUE(llama->add_bos);
  EXPECT_TRUE(llama->add_eos);
  auto no_bos = ImportHfTokenizer(WriteTokenizer("bos-llama-off", bos_template, R"({"tokenizer_class": "LlamaTokenizerFast",
    "bos_token": "<s>", "add_bos_token": false})"));
  ASSERT_TRUE(no_bos.ok());
  EXPECT_FALSE(no_bos->add_bos);
}

}  // namespace kvfuse::tokenizer
