// Where one generation stands in a grammar: the set of parse stacks that the text generated
// so far leaves open (a pushdown automaton run on all alternatives at once, as llama.cpp's
// grammar sampler does), plus the first bytes of a character that a token left incomplete.
// Tokens are tested and consumed as bytes; a token may end in the middle of a character as
// long as some character that starts so can still match.
// Threading: one matcher per generation, used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sched/grammar/grammar.h"

namespace kvfuse::sched::grammar {

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);

  // Whether `bytes` can come next (the empty string can always come).
  bool Accepts(std::string_view bytes) const;
  // Whether some stack takes code point `cp` next (no character is pending): a cheap first
  // test of a token that starts with it.
  bool TakesNext(uint32_t cp) const;
  bool HasPartialCharacter() const { return !partial_.empty(); }
  // Whether expanding the grammar's start went past the bounds on parse stacks and work.
  bool over_budget() const { return over_budget_; }
  // Consumes `bytes`; false (state unchanged) when they cannot come next.
  bool Advance(std::string_view bytes);
  // Rule expansions spent by Accepts and Advance since the last ResetWork: one token's test
  // is bounded, a whole vocabulary's is not (see TokenMatcher::AllowedTokens).
  int64_t work() const { return work_; }
  void ResetWork() const { work_ = 0; }
  // Whether the text so far is a whole sentence of the grammar (generation may end here).
  bool CanEnd() const;
  // Whether no character at all can come next.
  bool Closed() const;

 private:
  struct Pos {
    int32_t rule, alt, idx;
    auto operator<=>(const Pos&) const = default;
  };
  using Stack = std::vector<Pos>;

  // The stacks after `bytes` from the current ones, and the incomplete character they end in;
  // false when no stack survives.
  bool Run(std::string_view bytes, std::vector<Stack>* stacks, std::string* partial) const;
  std::vector<Stack> Step(const std::vector<Stack>& stacks, uint32_t cp) const;
  // Pushes `s` with every rule reference on top expanded until a character set is on top
  // (or the stack is empty: a whole sentence), each expansion charged to *budget.
  void Expand(Stack s, std::vector<Stack>* out, int64_t* budget) const;
  static void Dedup(std::vector<Stack>* stacks);
  const Element& Top(const Stack& s) const;

  std::shared_ptr<const Grammar> g_;
  std::vector<Stack> stacks_;
  std::string partial_;
  bool over_budget_ = false;
  mutable int64_t work_ = 0;
};

// An error when a grammar's start alone passes the matcher's bounds (Engine::CompileGrammar
// refuses such a grammar before a request uses it).
util::Status CheckGrammarCost(const std::shared_ptr<const Grammar>& grammar);

}  // namespace kvfuse::sched::grammar
