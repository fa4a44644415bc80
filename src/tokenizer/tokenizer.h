// The tokenizer a model's GGUF asks for, behind one interface: SentencePiece
// ("llama") or byte-level BPE ("gpt2").
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace kvfuse::tokenizer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual const Vocab& vocab() const = 0;
  // Text to ids, special-token text taken literally; BOS first when add_bos and the
  // vocabulary asks for it.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_bos) const = 0;
  // The bytes a token stands for (control tokens give "").
  virtual std::string Piece(int32_t id) const = 0;
  // The text of a whole sequence (SentencePiece drops the space prefix it added).
  virtual std::string Decode(const std::vector<int32_t>& ids) const {
    std::string text;
    for (int32_t id : ids) text += Piece(id);
    return text;
  }
};

// An error names the unsupported model or pre-tokenizer.
util::Result<std::unique_ptr<Tokenizer>> CreateTokenizer(Vocab vocab);

}  // namespace kvfuse::tokenizer
