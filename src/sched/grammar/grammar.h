// A context-free grammar over Unicode code points, compiled from llama.cpp's GBNF notation:
//   root   ::= object                       # the start rule is "root"
//   object ::= "{" ws ( pair ( "," ws pair )* )? "}"
//   ws     ::= [ \t\n]*
// Rules are alternatives (|) of sequences of "literals", [character classes] ([^...] negated,
// ranges a-z, escapes \n \t \\ \" \xHH \uHHHH), . (any character), rule names and (groups),
// each optionally repeated with * + ? {m} {m,} {m,n}. # starts a comment. A rule ends at the end
// of its line, unless inside parentheses or right after | or ::=.
// Repetitions and groups compile to rules of their own, so a compiled rule is alternatives of
// plain sequences of characters sets and rule references. Immutable once compiled; shared by
// every request that uses it, from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace kvfuse::sched::grammar {

struct Element {
  enum class Kind { kChars, kRule };
  Kind kind = Kind::kChars;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // kChars: inclusive code point ranges
  bool negated = false;                               // kChars: any code point outside ranges
  int32_t rule = -1;                                  // kRule
  bool Matches(uint32_t cp) const;
  // Whether some code point in [lo, hi] matches (a character whose first bytes are known).
  bool MatchesSomeOf(uint32_t lo, uint32_t hi) const;
};

using Sequence = std::vector<Element>;

struct Rule {
  std::string name;
  std::vector<Sequence> alternatives;  // an empty sequence matches the empty string
};

struct Grammar {
  std::vector<Rule> rules;
  int32_t root = -1;
};

// Limits on what a request's grammar may cost to compile (gbnf_parser.cpp also bounds group
// nesting and the elements repetitions expand to; grammar_matcher.cpp bounds parse stacks
// and expansions per step).
inline constexpr size_t kMaxGrammarBytes = 256 * 1024;
inline constexpr size_t kMaxGrammarRules = 4096;
inline constexpr int kMaxRepetition = 1000;  // m and n of {m,n}

// Errors (kInvalidArgument) name the line and what is wrong: syntax, an undefined rule, no
// root, a left-recursive rule (it would never consume a character), or a limit passed.
util::Result<Grammar> CompileGbnf(const std::string& text);
// An error naming a rule that can reach itself before it consumes a character (it would
// expand forever); CompileGbnf runs it.
util::Status CheckNoLeftRecursion(const Grammar& g);

}  // namespace kvfuse::sched::grammar
