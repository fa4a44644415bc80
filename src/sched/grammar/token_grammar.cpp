#include "sched/grammar/token_grammar.h"

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

int32_t TokenMatcher::AnyEndToken() const {
  for (size_t id = 0; id < tokens_->ends_turn.size(); ++id)
    if (tokens_->ends_turn[id]) return static_cast<int32_t>(id);
  return 0;
}

}  // namespace kvfuse::sched::grammar
