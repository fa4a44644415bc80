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
  std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> token_to_id;
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
    if (text.size() > max_token_bytes) return -1;
    auto it = token_to_id.find(text);
    return it == token_to_id.end() ? -1 : it->second;
  }
};

util::Result<Vocab> ReadVocab(const gguf::GgufFile& file);
// Fills token_to_id and max_token_bytes from tokens.
void IndexVocab(Vocab* vocab);

}  // namespace kvfuse::tokenizer
