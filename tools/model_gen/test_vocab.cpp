#include "model_gen/test_vocab.h"

#include <cstdio>
#include <string>
#include <vector>

#include "tokenizer/vocab_writer.h"

namespace kvfuse::tools {

namespace {

const std::string kSpace = "\xE2\x96\x81";

void BuildTokens(std::vector<std::string>& tokens, std::vector<double>& scores,
                 std::vector<int64_t>& types) {
  auto add = [&](std::string t, double score, int type) {
    tokens.push_back(std::move(t));
    scores.push_back(score);
    types.push_back(type);
  };
  add("<unk>", 0, 2);
  add("<s>", 0, 3);
  add("</s>", 0, 3);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    add(name, 0, 6);
  }
  add(kSpace, -1, 1);
  for (char c = '!'; c <= '~'; ++c) add(std::string(1, c), -2, 1);
  // Merges: scores fall with the index so the pair order is a fixed preference.
  double score = -3;
  for (char c = 'a'; c <= 'z'; ++c) add(kSpace + c, score -= 0.01, 1);
  for (char a = 'a'; a <= 'z'; ++a)
    for (char b = 'a'; b <= 'z'; ++b) add(std::string{a, b}, score -= 0.01, 1);
}

}  // namespace

int MinTestVocabSize() {
  std::vector<std::string> t;
  std::vector<double> s;
  std::vector<int64_t> ty;
  BuildTokens(t, s, ty);
  return static_cast<int>(t.size());
}

void AddTestVocab(gguf::GgufWriter& writer, int n_vocab) {
  std::vector<std::string> tokens;
  std::vector<double> scores;
  std::vector<int64_t> types;
  BuildTokens(tokens, scores, types);
  tokenizer::Vocab vocab;
  vocab.model = "llama";
  vocab.tokens = std::move(tokens);
  vocab.scores.assign(scores.begin(), scores.end());
  for (int64_t t : types) vocab.types.push_back(static_cast<tokenizer::TokenType>(t));
  vocab.unk_id = 0;
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.add_bos = true;
  AddPaddedVocab(writer, std::move(vocab), n_vocab);
}

void AddPaddedVocab(gguf::GgufWriter& writer, tokenizer::Vocab vocab, int n_vocab) {
  for (int id = vocab.n_tokens(); id < n_vocab; ++id) {
    vocab.tokens.push_back("[PAD" + std::to_string(id) + "]");
    vocab.scores.push_back(0.f);
    vocab.types.push_back(tokenizer::TokenType::kUnused);
  }
  tokenizer::SetVocabKeys(vocab, &writer);
}

}  // namespace kvfuse::tools
