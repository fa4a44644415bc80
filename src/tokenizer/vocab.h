// A tokenizer vocabulary read from GGUF metadata (tokenizer.ggml.*).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf_reader.h"
#include "util/status.h"

namespace kvfuse::tokenizer {

enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

// Token ids by text: open addressing over ids, each candidate's text compared in `tokens`
// (4 bytes a slot, 2-4 slots a token; a hash map of string copies took about 70 bytes a
// token, 10 MB for a vocabulary of 150,000).
class TokenIndex {
 public:
  // Indexes `tokens`; of equal texts the first id is kept.
  void Build(const std::vector<std::string>& tokens);
  // The id of `text` in the `tokens` it was built from, or -1.
  int32_t Find(std::string_view text, const std::vector<std::string>& tokens) const;

 private:
  std::vector<int32_t> slots_;  // -1: empty; a power of two in size, at least twice the tokens
};

struct Vocab {
  std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece), "gpt2", ...
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
  std::string pre;                  // tokenizer.ggml.pre: the pre-tokenizer of BPE vocabularies
  std::vector<std::string> merges;  // BPE merges "left right", highest priority first
  std::string chat_template;        // tokenizer.chat_template; empty when the model has none
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  TokenIndex token_index;  // of `tokens`: IndexVocab
  size_t max_token_bytes = 0;

  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = true;

  int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t Find(std::string_view text) const {
    return text.size() > max_token_bytes ? -1 : token_index.Find(text, tokens);
  }
};

util::Result<Vocab> ReadVocab(const gguf::GgufFile& file);
// Fills token_index and max_token_bytes from tokens.
void IndexVocab(Vocab* vocab);

}  // namespace kvfuse::tokenizer
