// WordPiece (tokenizer.ggml.model == "bert"), as BERT's uncased tokenizers do it: the
// text is cleaned (control characters dropped), lower-cased, NFD-normalised with accents
// (non-spacing marks) removed, split at whitespace, punctuation and CJK characters, and
// each word is cut greedily into the longest vocabulary pieces; a word that cannot be cut
// (or is longer than 100 characters) becomes [UNK]. In GGUF vocabularies word-initial
// pieces carry the U+2581 prefix and continuations carry none.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace kvfuse::tokenizer {

class WpmTokenizer : public Tokenizer {
 public:
  static util::Result<WpmTokenizer> Create(Vocab vocab);

  const Vocab& vocab() const override { return vocab_; }
  std::string Piece(int32_t id) const override;

 private:
  explicit WpmTokenizer(Vocab vocab);
  void EncodeFragment(std::string_view text, std::vector<int32_t>& out) const override;
  void EncodeWord(const std::string& word, size_t n_chars, std::vector<int32_t>& out) const;

  Vocab vocab_;
};

}  // namespace kvfuse::tokenizer
