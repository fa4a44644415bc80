#include "sched/grammar/token_grammar.h"

#include <optional>
#include <unordered_map>

#include "tokenizer/utf8.h"

namespace kvfuse::sched::grammar {

bool TokenMatcher::Allows(int32_t token) const {
  if (token < 0 || token >= static_cast<int32_t>(tokens_->bytes.size())) return false;
  if (tokens_->ends_turn[token]) return matcher_.CanEnd();
  const std::string& bytes = tokens_->bytes[token];
  return !bytes.empty() && matcher_.Accepts(bytes);
}

void TokenMatcher::Accept(int32_t token) {
  if (token < 0 || token >= static_cast<int32_t>(tokens_->bytes.size()) || tokens_->ends_turn[token]) return;
  matcher_.Advance(tokens_->bytes[token]);
}

std::vector<bool> TokenMatcher::AllowedTokens(int32_t n_vocab) const {
  std::vector<bool> allowed(n_vocab, false);
  const bool by_first_char = first_chars_ && !matcher_.HasPartialCharacter();
  // First character -> the matcher past it (none: refused). Stepping over the first character
  // once for every token that starts with it is what a large enum made expensive.
  std::unordered_map<uint32_t, std::optional<GrammarMatcher>> past_first;
  int64_t work = 0;
  matcher_.ResetWork();
  for (int32_t t = 0; t < n_vocab && t < static_cast<int32_t>(tokens_->bytes.size()); ++t) {
    if (work + matcher_.work() > kMaxMaskWork) {
      over_budget_ = true;
      return std::vector<bool>(n_vocab, false);
    }
    if (!by_first_char || tokens_->ends_turn[t] || (*first_chars_)[t] == kNoFirstChar) {
      allowed[t] = Allows(t);
      continue;
    }
    const std::string& bytes = tokens_->bytes[t];
    const size_t first_len = tokenizer::ValidUtf8At(bytes, 0);
    const uint32_t first = (*first_chars_)[t];
    auto it = past_first.find(first);
    if (it == past_first.end()) {
      std::optional<GrammarMatcher> past;
      if (matcher_.TakesNext(first)) {  // a copy of the stacks only for a character some stack takes
        past.emplace(matcher_);
        past->ResetWork();
        const bool advanced = past->Advance(std::string_view(bytes).substr(0, first_len));
        work += past->work();
        if (!advanced) past.reset();
      }
      it = past_first.emplace(first, std::move(past)).first;
    }
    if (!it->second) continue;
    it->second->ResetWork();
    allowed[t] = first_len == bytes.size() || it->second->Accepts(std::string_view(bytes).substr(first_len));
    work += it->second->work();
  }
  return allowed;
}

std::vector<uint32_t> FirstChars(const TokenTexts& texts) {
  std::vector<uint32_t> first(texts.bytes.size(), kNoFirstChar);
  for (size_t t = 0; t < texts.bytes.size(); ++t) {
    const std::string& b = texts.bytes[t];
    if (b.empty()) continue;
    const size_t len = tokenizer::ValidUtf8At(b, 0);
    if (len > 0) first[t] = tokenizer::DecodeUtf8(b, 0, len);
  }
  return first;
}

int32_t TokenMatcher::AnyEndToken() const {
  for (size_t id = 0; id < tokens_->ends_turn.size(); ++id)
    if (tokens_->ends_turn[id]) return static_cast<int32_t>(id);
  return -1;
}

util::Status MaskWorkExceeded() {
  return util::Status::InvalidArgument("the grammar needs more than " + std::to_string(kMaxMaskWork) +
                                       " rule expansions to choose a token: simplify it (fewer alternatives that match nothing)");
}

}  // namespace kvfuse::sched::grammar
