// CompileGbnf: GBNF text to a Grammar (see grammar.h).
#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "sched/grammar/grammar.h"
#include "tokenizer/utf8.h"

namespace kvfuse::sched::grammar {

namespace {

constexpr size_t kMaxElements = size_t{1} << 20;
constexpr int kMaxNesting = 64;

struct ParseError {
  int line;
  std::string message;
};

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Grammar Parse() {
    SkipSpace(true);
    while (pos_ < s_.size()) {
      const int line = line_;
      const int32_t id = RuleId(Name(), line);
      if (defined_[id]) Fail("rule '" + g_.rules[id].name + "' is defined twice");
      defined_[id] = true;
      SkipSpace(false);
      if (s_.compare(pos_, 3, "::=") != 0) Fail("expected ::= after the rule name");
      pos_ += 3;
      SkipSpace(true);
      g_.rules[id].alternatives = Alternatives(false);
      SkipSpace(true);
    }
    for (size_t id = 0; id < g_.rules.size(); ++id)
      if (!defined_[id]) throw ParseError{first_use_[id], "rule '" + g_.rules[id].name + "' is used but not defined"};
    const auto root = ids_.find("root");
    if (root == ids_.end()) throw ParseError{1, "the grammar has no rule named root"};
    g_.root = root->second;
    return std::move(g_);
  }

 private:
  [[noreturn]] void Fail(const std::string& message) const { throw ParseError{line_, message}; }

  void SkipSpace(bool newlines) {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '\n' && newlines) {
        ++pos_;
        ++line_;
      } else {
        return;
      }
    }
  }

  std::string Name() {
    const size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' || s_[pos_] == '_')) ++pos_;
    if (pos_ == start) Fail(pos_ < s_.size() ? std::string("unexpected '") + s_[pos_] + "'" : "unexpected end of grammar");
    return s_.substr(start, pos_ - start);
  }

  int32_t RuleId(const std::string& name, int line) {
    const auto [it, added] = ids_.emplace(name, static_cast<int32_t>(g_.rules.size()));
    if (added) AddRule(name, line);
    return it->second;
  }

  int32_t AddRule(const std::string& name, int line) {
    if (g_.rules.size() >= kMaxGrammarRules) Fail("more than " + std::to_string(kMaxGrammarRules) + " rules");
    g_.rules.push_back({name, {}});
    defined_.push_back(false);
    first_use_.push_back(line);
    return static_cast<int32_t>(g_.rules.size()) - 1;
  }

  // A rule of its own for a group or a repetition.
  int32_t Generated(std::vector<Sequence> alternatives) {
    const int32_t id = AddRule("_" + std::to_string(g_.rules.size()), line_);
    defined_[id] = true;
    g_.rules[id].alternatives = std::move(alternatives);
    return id;
  }

  static Element RuleRef(int32_t rule) {
    Element e;
    e.kind = Element::Kind::kRule;
    e.rule = rule;
    return e;
  }

  std::vector<Sequence> Alternatives(bool nested) {
    std::vector<Sequence> alts{Seq(nested)};
    while (pos_ < s_.size() && s_[pos_] == '|') {
      ++pos_;
      SkipSpace(true);
      alts.push_back(Seq(nested));
    }
    return alts;
  }

  Sequence Seq(bool nested) {
    Sequence seq;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '|' || c == ')' || c == '\n') break;
      Sequence atom = Atom(nested);
      SkipSpace(nested);
      Repeat(atom);
      SkipSpace(nested);
      seq.insert(seq.end(), atom.begin(), atom.end());
      elements_ += atom.size();
      if (elements_ > kMaxElements) Fail("the grammar expands to too many elements (repetitions of long literals)");
    }
    return seq;
  }

  Sequence Atom(bool nested) {
    const char c = s_[pos_];
    if (c == '"') return Literal();
    if (c == '[') return {CharClass()};
    if (c == '.') {
      ++pos_;
      Element any;
      any.negated = true;  // outside no range: any character
      return {any};
    }
    if (c == '(') {
      ++pos_;
      if (++depth_ > kMaxNesting) Fail("groups nest deeper than " + std::to_string(kMaxNesting) + " levels");
      SkipSpace(true);
      std::vector<Sequence> alts = Alternatives(true);
      --depth_;
      if (pos_ >= s_.size() || s_[pos_] != ')') Fail("expected ) to close the group");
      ++pos_;
      return {RuleRef(Generated(std::move(alts)))};
    }
    (void)nested;
    const int line = line_;
    return {RuleRef(RuleId(Name(), line))};
  }

  // Applies a postfix *, +, ?, {m}, {m,}, {m,n} to `atom`, if one follows.
  void Repeat(Sequence& atom) {
    if (pos_ >= s_.size()) return;
    int min = 0, max = -1;  // max -1: unbounded
    const char c = s_[pos_];
    if (c == '*') {
      ++pos_;
    } else if (c == '+') {
      ++pos_;
      min = 1;
    } else if (c == '?') {
      ++pos_;
      max = 1;
    } else if (c == '{') {
      ++pos_;
      min = Count();
      max = min;
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        max = pos_ < s_.size() && s_[pos_] == '}' ? -1 : Count();
      }
      if (pos_ >= s_.size() || s_[pos_] != '}') Fail("expected } after a repetition count");
      ++pos_;
      if (max >= 0 && max < min) Fail("repetition {m,n} with n < m");
    } else {
      return;
    }
    // Every copy of the atom below counts against the grammar's size, before it is made.
    const size_t copies = static_cast<size_t>(min) + (max < 0 ? 1 : static_cast<size_t>(max - min));
    elements_ += atom.size() * copies;
    if (elements_ > kMaxElements) Fail("the grammar expands to too many elements (repetitions of long literals)");
    Sequence out;
    for (int i = 0; i < min; ++i) out.insert(out.end(), atom.begin(), atom.end());
    if (max < 0) {  // R ::= atom R | (empty)
      const int32_t r = Generated({});
      Sequence again = atom;
      again.push_back(RuleRef(r));
      g_.rules[r].alternatives = {again, {}};
      out.push_back(RuleRef(r));
    } else if (max > min) {  // O_k ::= atom O_(k-1) | (empty), nested max - min deep
      int32_t inner = -1;
      for (int k = 0; k < max - min; ++k) {
        Sequence more = atom;
        if (inner >= 0) more.push_back(RuleRef(inner));
        inner = Generated({more, {}});
      }
      out.push_back(RuleRef(inner));
    }
    atom = std::move(out);
  }

  int Count() {
    SkipSpace(false);
    const size_t start = pos_;
    long n = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])) && n <= kMaxRepetition) n = n * 10 + (s_[pos_++] - '0');
    if (pos_ == start) Fail("expected a number in a repetition");
    if (n > kMaxRepetition) Fail("repetition count above " + std::to_string(kMaxRepetition));
    SkipSpace(false);
    return static_cast<int>(n);
  }

  Sequence Literal() {
    ++pos_;  // "
    Sequence seq;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      if (s_[pos_] == '\n') Fail("a string literal is not closed on its line");
      Element e;
      const uint32_t cp = Char();
      e.ranges = {{cp, cp}};
      seq.push_back(std::move(e));
    }
    if (pos_ >= s_.size()) Fail("a string literal is not closed");
    ++pos_;
    return seq;
  }

  Element CharClass() {
    ++pos_;  // [
    Element e;
    if (pos_ < s_.size() && s_[pos_] == '^') {
      e.negated = true;
      ++pos_;
    }
    while (pos_ < s_.size() && s_[pos_] != ']') {
      if (s_[pos_] == '\n') Fail("a character class is not closed on its line");
      const uint32_t lo = Char();
      uint32_t hi = lo;
      if (pos_ + 1 < s_.size() && s_[pos_] == '-' && s_[pos_ + 1] != ']') {
        ++pos_;
        hi = Char();
        if (hi < lo) Fail("a character range goes backwards");
      }
      e.ranges.emplace_back(lo, hi);
    }
    if (pos_ >= s_.size()) Fail("a character class is not closed");
    ++pos_;
    return e;
  }

  // One character of a literal or class: an escape or one UTF-8 sequence.
  uint32_t Char() {
    const auto b = static_cast<unsigned char>(s_[pos_]);
    if (b == '\\') {
      if (++pos_ >= s_.size()) Fail("a \\ ends the grammar");
      const char e = s_[pos_++];
      switch (e) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case 'x': return Hex(2);
        case 'u': return Hex(4);
        case 'U': return Hex(8);
        case '\\': case '"': case '[': case ']': case '-': case '^': return static_cast<unsigned char>(e);
        default: Fail(std::string("unknown escape \\") + e);
      }
    }
    const size_t len = tokenizer::ValidUtf8At(s_, pos_);
    if (len == 0) Fail("the grammar is not valid UTF-8");
    const uint32_t cp = tokenizer::DecodeUtf8(s_, pos_, len);
    pos_ += len;
    return cp;
  }

  uint32_t Hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i, ++pos_) {
      if (pos_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[pos_]))) Fail("a \\x, \\u or \\U escape needs hex digits");
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s_[pos_])));
      v = v * 16 + static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (v > 0x10FFFF) Fail("a code point above U+10FFFF");
    return v;
  }

  const std::string& s_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t elements_ = 0;
  int depth_ = 0;
  Grammar g_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<bool> defined_;
  std::vector<int> first_use_;
};

}  // namespace

util::Result<Grammar> CompileGbnf(const std::string& text) {
  if (text.size() > kMaxGrammarBytes)
    return util::Status::InvalidArgument("grammar: longer than " + std::to_string(kMaxGrammarBytes) + " bytes");
  try {
    Grammar g = Parser(text).Parse();
    if (util::Status s = CheckNoLeftRecursion(g); !s.ok()) return s;
    return g;
  } catch (const ParseError& e) {
    return util::Status::InvalidArgument(e.line > 0 ? "grammar line " + std::to_string(e.line) + ": " + e.message
                                                    : "grammar: " + e.message);
  }
}

}  // namespace kvfuse::sched::grammar
