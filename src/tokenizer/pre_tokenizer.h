// Pre-tokenizers of byte-level BPE vocabularies, chosen by tokenizer.ggml.pre: each
// is a list of regular expressions applied in turn; every expression splits each piece
// of the previous step into its matches and the text between them (the Hugging Face
// "Split / Isolated" behaviour). Unicode classes come from PCRE2 with UTF and UCP.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace kvfuse::tokenizer {

class PreTokenizer {
 public:
  // An unknown name is an error that names it.
  static util::Result<PreTokenizer> Create(const std::string& pre_name);
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // The pieces of text, in order; their concatenation is text. Invalid UTF-8 is split
  // as bytes that match no class.
  std::vector<std::string_view> Split(std::string_view text) const;
  // The name of the pre-tokenizer whose Hugging Face tokenizer.json Split expressions are
  // `hf_regexes`, in order; "" when none is known.
  static std::string Identify(const std::vector<std::string>& hf_regexes);
  // Whether whole pre-token pieces found in the vocabulary skip the merges (llama3).
  bool ignore_merges() const { return ignore_merges_; }
  // Whether text is NFC-normalized before it is split (the model's tokenizer.json asks so).
  bool nfc() const { return nfc_; }

 private:
  struct Regex;
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Regex>> regexes_;
  bool ignore_merges_ = false;
  bool nfc_ = false;
};

}  // namespace kvfuse::tokenizer
