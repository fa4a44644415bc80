// SentencePiece-style tokenizer (tokenizer.ggml.model == "llama"): spaces become U+2581,
// adjacent pieces merge greedily by vocabulary score, unknown characters fall back to
// <0xXX> byte tokens.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace kvfuse::tokenizer {

class SpmTokenizer : public Tokenizer {
 public:
  static util::Result<SpmTokenizer> Create(Vocab vocab);

  const Vocab& vocab() const override { return vocab_; }
  // The bytes a token stands for (control tokens give "").
  std::string Piece(int32_t id) const override;
  std::string Decode(const std::vector<int32_t>& ids) const override;

 private:
  explicit SpmTokenizer(Vocab vocab);
  void EncodeFragment(std::string_view text, std::vector<int32_t>& out) const override;
  Vocab vocab_;
  int32_t byte_ids_[256];
};

}  // namespace kvfuse::tokenizer
