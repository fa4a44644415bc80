#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"
#include "tokenizer/wpm_tokenizer.h"

namespace kvfuse::tokenizer {

void Tokenizer::IndexSpecialTokens() {
  const Vocab& v = vocab();
  for (int32_t id = 0; id < v.n_tokens(); ++id) {
    const TokenType type = v.types[id];
    const std::string& text = v.tokens[id];
    const bool special = type == TokenType::kUserDefined || type == TokenType::kControl || type == TokenType::kUnknown;
    if (!special || text.empty()) continue;
    auto& buckets = special_by_byte_[static_cast<unsigned char>(text[0])];
    auto it = std::find_if(buckets.begin(), buckets.end(), [&](const auto& b) { return b.length == text.size(); });
    if (it == buckets.end()) it = buckets.insert(buckets.end(), {text.size(), {}});
    it->id_by_text.emplace(text, id);  // a text twice: its first id, as Vocab::Find
  }
  for (auto& buckets : special_by_byte_)
    std::sort(buckets.begin(), buckets.end(), [](const auto& a, const auto& b) { return a.length > b.length; });
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special, bool parse_special) const {
  const Vocab& v = vocab();
  std::vector<int32_t> ids;
  if (add_special && v.add_bos && v.bos_id >= 0) ids.push_back(v.bos_id);
  size_t plain = 0;  // start of the text not yet encoded
  for (size_t i = 0; i < text.size(); ++i) {
    for (const auto& bucket : special_by_byte_[static_cast<unsigned char>(text[i])]) {
      if (bucket.length > text.size() - i) continue;
      const auto it = bucket.id_by_text.find(text.substr(i, bucket.length));
      if (it == bucket.id_by_text.end()) continue;
      const int32_t id = it->second;
      if (v.types[id] != TokenType::kUserDefined && !parse_special) continue;
      if (i > plain) EncodeFragment(text.substr(plain, i - plain), ids);
      ids.push_back(id);
      plain = i + bucket.length;
      i = plain - 1;
      break;
    }
  }
  if (plain < text.size()) EncodeFragment(text.substr(plain), ids);
  if (add_special && v.add_eos && v.eos_id >= 0) ids.push_back(v.eos_id);
  return ids;
}

util::Result<std::unique_ptr<Tokenizer>> CreateTokenizer(Vocab vocab) {
  if (vocab.model == "llama") {
    auto spm = SpmTokenizer::Create(std::move(vocab));
    if (!spm.ok()) return spm.status();
    return std::unique_ptr<Tokenizer>(std::make_unique<SpmTokenizer>(std::move(spm).value()));
  }
  if (vocab.model == "gpt2") {
    auto bpe = BpeTokenizer::Create(std::move(vocab));
    if (!bpe.ok()) return bpe.status();
    return std::unique_ptr<Tokenizer>(std::make_unique<BpeTokenizer>(std::move(bpe).value()));
  }
  if (vocab.model == "bert") {
    auto wpm = WpmTokenizer::Create(std::move(vocab));
    if (!wpm.ok()) return wpm.status();
    return std::unique_ptr<Tokenizer>(std::make_unique<WpmTokenizer>(std::move(wpm).value()));
  }
  return util::Status::Error("unsupported tokenizer model '" + vocab.model + "' (tokenizer.ggml.model)");
}

}  // namespace kvfuse::tokenizer
