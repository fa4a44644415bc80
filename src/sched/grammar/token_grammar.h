// A grammar bound to a model's vocabulary: which tokens may come next in a generation.
// The bytes of every token are listed once per model (TokenTexts) and shared by every
// constrained request. Threading: TokenGrammar is immutable and shared; a TokenMatcher belongs
// to one generation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "sched/grammar/grammar_matcher.h"
#include "util/status.h"

namespace kvfuse::sched::grammar {

struct TokenTexts {
  std::vector<std::string> bytes;  // per token id; "" for control tokens, which never match
  std::vector<bool> ends_turn;     // per token id: generation ends with it (EOS, end of turn)
};
// The first character of each token's bytes, or kNoFirstChar when they do not start with a
// whole one (a token of a few bytes of a character, a control token).
inline constexpr uint32_t kNoFirstChar = 0xFFFFFFFF;
std::vector<uint32_t> FirstChars(const TokenTexts& texts);

struct TokenGrammar {
  std::shared_ptr<const Grammar> grammar;
  std::shared_ptr<const TokenTexts> tokens;
  std::shared_ptr<const std::vector<uint32_t>> first_chars;  // FirstChars(*tokens); may be null
};

class TokenMatcher {
 public:
  explicit TokenMatcher(const TokenGrammar& g) : tokens_(g.tokens), first_chars_(g.first_chars), matcher_(g.grammar) {}
  // An end-of-turn token when the text so far is a whole sentence; another token when its
  // bytes can come next.
  bool Allows(int32_t token) const;
  void Accept(int32_t token);
  // Allows() for every token id below n_vocab at once, testing each first character once.
  // Stops, with over_budget() set and no token allowed, once the tests have spent
  // kMaxMaskWork rule expansions: a grammar whose every step fans out to the per-step bound
  // made one mask cost billions of them, on the scheduler's thread.
  std::vector<bool> AllowedTokens(int32_t n_vocab) const;
  bool over_budget() const { return over_budget_; }
  // An end-of-turn token, for when no token is allowed (a vocabulary that cannot spell what
  // the grammar needs): the generation ends rather than break the grammar. -1 when the
  // vocabulary has none.
  int32_t AnyEndToken() const;

 private:
  std::shared_ptr<const TokenTexts> tokens_;
  std::shared_ptr<const std::vector<uint32_t>> first_chars_;
  GrammarMatcher matcher_;
  mutable bool over_budget_ = false;
};

// The rule expansions one AllowedTokens may spend: ample for JSON schemas over a large
// vocabulary (a few million), about a second of work at most.
inline constexpr int64_t kMaxMaskWork = int64_t{1} << 26;

// The error of a generation that stopped at that bound (the request's grammar is to blame).
util::Status MaskWorkExceeded();

}  // namespace kvfuse::sched::grammar
