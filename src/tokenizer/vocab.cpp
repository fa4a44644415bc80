#include "tokenizer/vocab.h"

#include <algorithm>

namespace kvfuse::tokenizer {

using util::Result;
using util::Status;

Result<Vocab> ReadVocab(const gguf::GgufFile& file) {
  Vocab v;
  Result<std::string> model = file.GetString("tokenizer.ggml.model");
  if (!model.ok()) return model.status();
  v.model = model.value();
  const gguf::Value* tokens = file.Find("tokenizer.ggml.tokens");
  if (!tokens || !tokens->is_array() || tokens->element_type != gguf::ValueType::kString)
    return Status::Error(file.path() + ": tokenizer.ggml.tokens is missing or not a string array");
  v.tokens = tokens->texts;
  const size_t n = v.tokens.size();
  v.scores.assign(n, 0.f);
  if (const gguf::Value* scores = file.Find("tokenizer.ggml.scores")) {
    if (scores->reals.size() != n)
      return Status::Error(file.path() + ": tokenizer.ggml.scores has a different length than the tokens");
    for (size_t i = 0; i < n; ++i) v.scores[i] = static_cast<float>(scores->reals[i]);
  }
  v.types.assign(n, TokenType::kNormal);
  if (const gguf::Value* types = file.Find("tokenizer.ggml.token_type")) {
    if (types->integers.size() != n)
      return Status::Error(file.path() + ": tokenizer.ggml.token_type has a different length than the tokens");
    for (size_t i = 0; i < n; ++i) v.types[i] = static_cast<TokenType>(types->integers[i]);
  }
  if (const gguf::Value* merges = file.Find("tokenizer.ggml.merges")) {
    if (!merges->is_array() || merges->element_type != gguf::ValueType::kString)
      return Status::Error(file.path() + ": tokenizer.ggml.merges is not a string array");
    v.merges = merges->texts;
  }
  if (file.Find("tokenizer.ggml.pre")) {
    Result<std::string> pre = file.GetString("tokenizer.ggml.pre");
    if (!pre.ok()) return pre.status();
    v.pre = pre.value();
  }
  if (file.Find("tokenizer.chat_template")) {
    Result<std::string> tmpl = file.GetString("tokenizer.chat_template");
    if (!tmpl.ok()) return tmpl.status();
    v.chat_template = tmpl.value();
  }
  IndexVocab(&v);
  auto read_id = [&](const char* key, int32_t fallback) {
    const int64_t id = file.GetIntOr(key, fallback);
    return id >= 0 && id < static_cast<int64_t>(n) ? static_cast<int32_t>(id) : -1;
  };
  const bool spm = v.model == "llama";
  const bool wpm = v.model == "bert";  // [CLS] text [SEP]
  v.bos_id = read_id("tokenizer.ggml.bos_token_id", wpm ? read_id("tokenizer.ggml.cls_token_id", -1) : spm ? 1 : -1);
  v.eos_id = read_id("tokenizer.ggml.eos_token_id", wpm ? read_id("tokenizer.ggml.seperator_token_id", -1) : spm ? 2 : -1);
  v.unk_id = read_id("tokenizer.ggml.unknown_token_id", spm ? 0 : -1);
  v.pad_id = read_id("tokenizer.ggml.padding_token_id", -1);
  v.add_bos = file.GetBoolOr("tokenizer.ggml.add_bos_token", spm || wpm);
  v.add_eos = file.GetBoolOr("tokenizer.ggml.add_eos_token", wpm);
  v.add_space_prefix = file.GetBoolOr("tokenizer.ggml.add_space_prefix", spm);
  return v;
}

void TokenIndex::Build(const std::vector<std::string>& tokens) {
  size_t size = 16;
  while (size < 2 * tokens.size()) size *= 2;
  slots_.assign(size, -1);
  for (size_t id = 0; id < tokens.size(); ++id) {
    size_t at = std::hash<std::string_view>{}(tokens[id]) & (size - 1);
    while (slots_[at] >= 0 && tokens[slots_[at]] != tokens[id]) at = (at + 1) & (size - 1);
    if (slots_[at] < 0) slots_[at] = static_cast<int32_t>(id);
  }
}

int32_t TokenIndex::Find(std::string_view text, const std::vector<std::string>& tokens) const {
  if (slots_.empty()) return -1;
  const size_t mask = slots_.size() - 1;
  for (size_t at = std::hash<std::string_view>{}(text) & mask; slots_[at] >= 0; at = (at + 1) & mask)
    if (tokens[slots_[at]] == text) return slots_[at];
  return -1;
}

void IndexVocab(Vocab* vocab) {
  vocab->token_index.Build(vocab->tokens);
  vocab->max_token_bytes = 0;
  for (const std::string& token : vocab->tokens) vocab->max_token_bytes = std::max(vocab->max_token_bytes, token.size());
}

}  // namespace kvfuse::tokenizer
