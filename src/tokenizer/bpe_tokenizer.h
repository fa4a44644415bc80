// Byte-level BPE (tokenizer.ggml.model == "gpt2"): text is split by the vocabulary's
// pre-tokenizer, each piece's bytes are mapped to the printable characters of GPT-2's
// byte alphabet, and adjacent symbols are merged lowest merge rank first (leftmost on
// ties) until no ranked pair is left. A symbol missing from the vocabulary falls back
// to its single-byte tokens. Special tokens are split out first (Tokenizer::Encode).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace kvfuse::tokenizer {

class BpeTokenizer : public Tokenizer {
 public:
  static util::Result<BpeTokenizer> Create(Vocab vocab);

  const Vocab& vocab() const override { return vocab_; }
  // The bytes a token stands for (control tokens give "").
  std::string Piece(int32_t id) const override;

 private:
  BpeTokenizer(Vocab vocab, PreTokenizer pre);
  void EncodeWord(std::string_view word, std::vector<int32_t>& out) const;
  void EncodeFragment(std::string_view text, std::vector<int32_t>& out) const override;

  Vocab vocab_;
  PreTokenizer pre_;
  // Merge rank by pair, keyed "left right" in the byte alphabet.
  std::unordered_map<std::string, int32_t> merge_rank_;
  std::string byte_char_[256];  // UTF-8 of the alphabet character for each byte
  std::unordered_map<uint32_t, uint8_t> char_byte_;  // code point -> byte
  int32_t byte_token_[256];
};

}  // namespace kvfuse::tokenizer
