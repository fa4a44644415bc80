// The tokenizer a model's GGUF asks for, behind one interface: SentencePiece
// ("llama") or byte-level BPE ("gpt2").
// Threading: a Tokenizer is immutable once created; Encode and Decode may run on any number
// of threads at once (scratch state, regex match data included, is per call).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace kvfuse::tokenizer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual const Vocab& vocab() const = 0;
  // Text to ids. User-defined tokens are matched in the text always, control tokens
  // (<s>, <|im_end|>, ...) and the unknown token only when parse_special, leftmost then
  // longest. With
  // add_special, BOS and EOS are added where the vocabulary asks for them.
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special = false) const;
  // The bytes a token stands for (control tokens give "").
  virtual std::string Piece(int32_t id) const = 0;
  // The text of a whole sequence (SentencePiece drops the space prefix it added).
  virtual std::string Decode(const std::vector<int32_t>& ids) const {
    std::string text;
    for (int32_t id : ids) text += Piece(id);
    return text;
  }

 protected:
  // Appends the ids of a run of text between special tokens (or the whole input).
  virtual void EncodeFragment(std::string_view text, std::vector<int32_t>& out) const = 0;
  // Subclasses call this once their vocabulary is in place.
  void IndexSpecialTokens();

 private:
  // User-defined, control and unknown tokens by first byte, then by length, longest first:
  // at each position of a text, one hash lookup per length (Gemma has 6,000 such tokens).
  struct SpecialTokensOfLength {
    size_t length;
    std::unordered_map<std::string, int32_t, Vocab::TextHash, std::equal_to<>> id_by_text;
  };
  std::vector<SpecialTokensOfLength> special_by_byte_[256];
};

// An error names the unsupported model or pre-tokenizer.
util::Result<std::unique_ptr<Tokenizer>> CreateTokenizer(Vocab vocab);

}  // namespace kvfuse::tokenizer
