#include "tokenizer/jinja/expr_parser.h"

#include <cerrno>
#include <cstdlib>

namespace kvfuse::tokenizer::jinja {

using util::StrFormat;

void ParseFail(int line, const std::string& what) { throw ParseError{StrFormat("line %d: %s", line, what.c_str())}; }

void NestingFail(int line, int limit) {
  ParseFail(line, StrFormat("the template nests deeper than %d levels of blocks and expressions (limit max_nesting)", limit));
}

ExprParser::ExprParser(std::vector<Token> tokens, int max_depth, int limit)
    : t_(std::move(tokens)), max_depth_(max_depth), limit_(limit) {}

ExprParser::Nest::Nest(ExprParser& p, int line) : p_(p) {
  if (++p_.nesting_ > p_.max_depth_) {
    --p_.nesting_;
    NestingFail(line, p_.limit_);
  }
}

void ExprParser::Expect(const char* op) {
  if (!IsOp(op)) ParseFail(Peek().line, StrFormat("expected '%s' but found '%s'", op, Peek().text.c_str()));
  ++i_;
}

std::string ExprParser::ExpectName() {
  if (Peek().kind != Token::Kind::kName) ParseFail(Peek().line, "expected a name but found '" + Peek().text + "'");
  return Next().text;
}

void ExprParser::ExpectEnd() {
  if (!AtEnd()) ParseFail(Peek().line, "unexpected '" + Peek().text + "'");
}

ExprPtr ExprParser::Make(Expr::Kind kind, int line) const {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

void ExprParser::Adopt(Expr& parent, ExprPtr child) {
  // Chains such as a + a + ... or x|f|f|... build deep trees without deep recursion here,
  // but evaluating or freeing them would recurse: the tree's depth is bounded too.
  if (child) {
    parent.depth = std::max(parent.depth, child->depth + 1);
    if (parent.depth > max_depth_) NestingFail(parent.line, limit_);
  }
  parent.args.push_back(std::move(child));
}

void ExprParser::AdoptKwarg(Expr& parent, std::string key, ExprPtr child) {
  parent.depth = std::max(parent.depth, child->depth + 1);
  if (parent.depth > max_depth_) NestingFail(parent.line, limit_);
  parent.kwargs.emplace_back(std::move(key), std::move(child));
}

ExprPtr ExprParser::Binary(ExprPtr left, const std::string& op, ExprPtr right) {
  auto e = Make(Expr::Kind::kBinary, left->line);
  e->name = op;
  Adopt(*e, std::move(left));
  Adopt(*e, std::move(right));
  return e;
}

ExprPtr ExprParser::Expression() {
  Nest nest(*this, Peek().line);
  ExprPtr value = Or();
  if (!IsName("if")) return value;
  const int line = Next().line;
  auto e = Make(Expr::Kind::kTernary, line);
  ExprPtr cond = Or();
  ExprPtr otherwise;
  if (IsName("else")) {
    Next();
    otherwise = Expression();
  } else {
    otherwise = Make(Expr::Kind::kLiteral, line);  // undefined
  }
  Adopt(*e, std::move(value));
  Adopt(*e, std::move(cond));
  Adopt(*e, std::move(otherwise));
  return e;
}

ExprPtr ExprParser::Or() {
  ExprPtr e = And();
  while (IsName("or")) {
    Next();
    e = Binary(std::move(e), "or", And());
  }
  return e;
}

ExprPtr ExprParser::And() {
  ExprPtr e = Not();
  while (IsName("and")) {
    Next();
    e = Binary(std::move(e), "and", Not());
  }
  return e;
}

ExprPtr ExprParser::Not() {
  if (!IsName("not")) return Compare();
  Nest nest(*this, Peek().line);
  const int line = Next().line;
  auto e = Make(Expr::Kind::kUnary, line);
  e->name = "not";
  Adopt(*e, Not());
  return e;
}

ExprPtr ExprParser::Compare() {
  ExprPtr e = Concat();
  bool compared = false;  // e is this loop's comparison: another one chains (a < b < c)
  for (;;) {
    std::string op;
    if (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp(">") || IsOp("<=") || IsOp(">=")) {
      op = Next().text;
    } else if (IsName("in")) {
      Next();
      op = "in";
    } else if (IsName("not") && IsName("in", 1)) {
      Next();
      Next();
      op = "not in";
    } else if (IsName("is")) {
      e = Test(std::move(e));
      compared = false;
      continue;
    } else {
      return e;
    }
    if (!compared) {
      e = Binary(std::move(e), op, Concat());
      compared = true;
      continue;
    }
    if (e->kind == Expr::Kind::kBinary) {  // the second comparison: a chain of two
      auto chain = Make(Expr::Kind::kCompare, e->line);
      Adopt(*chain, std::move(e->args[0]));
      AdoptKwarg(*chain, e->name, std::move(e->args[1]));
      e = std::move(chain);
    }
    AdoptKwarg(*e, op, Concat());
  }
}

// subject is [not] name [(args) | literal]
ExprPtr ExprParser::Test(ExprPtr subject) {
  const int line = Next().line;
  auto test = Make(Expr::Kind::kTest, line);
  if (IsName("not")) {
    Next();
    test->negated = true;
  }
  test->name = ExpectName();
  Adopt(*test, std::move(subject));
  if (IsOp("(")) Arguments(*test);
  else if (!AtEnd() && (Peek().kind == Token::Kind::kString || Peek().kind == Token::Kind::kInt))
    Adopt(*test, Primary());  // "is divisibleby 3", "is sameas x"
  return test;
}

ExprPtr ExprParser::Concat() {
  ExprPtr e = Additive();
  while (IsOp("~")) {
    Next();
    e = Binary(std::move(e), "~", Additive());
  }
  return e;
}

ExprPtr ExprParser::Additive() {
  ExprPtr e = Multiplicative();
  while (IsOp("+") || IsOp("-")) {
    const std::string op = Next().text;
    e = Binary(std::move(e), op, Multiplicative());
  }
  return e;
}

ExprPtr ExprParser::Multiplicative() {
  ExprPtr e = Unary();
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    const std::string op = Next().text;
    e = Binary(std::move(e), op, Unary());
  }
  return e;
}

ExprPtr ExprParser::Unary() {
  if (!IsOp("-") && !IsOp("+")) return Filtered();
  Nest nest(*this, Peek().line);
  const Token& t = Next();
  auto e = Make(Expr::Kind::kUnary, t.line);
  e->name = t.text;
  Adopt(*e, Unary());
  return e;
}

ExprPtr ExprParser::Filtered() {
  ExprPtr e = Postfix(Primary());
  while (IsOp("|")) {
    const int line = Next().line;
    auto f = Make(Expr::Kind::kFilter, line);
    f->name = ExpectName();
    Adopt(*f, std::move(e));
    if (IsOp("(")) Arguments(*f);
    e = Postfix(std::move(f));
  }
  return e;
}

void ExprParser::Arguments(Expr& call) {
  Expect("(");
  while (!IsOp(")")) {
    if (Peek().kind == Token::Kind::kName && IsOp("=", 1)) {
      std::string key = Next().text;
      Next();
      AdoptKwarg(call, std::move(key), Expression());
    } else {
      Adopt(call, Expression());
    }
    if (!IsOp(")")) Expect(",");
  }
  Expect(")");
}

ExprPtr ExprParser::Postfix(ExprPtr e) {
  for (;;) {
    if (IsOp(".")) {
      const int line = Next().line;
      auto a = Make(Expr::Kind::kAttr, line);
      a->name = ExpectName();
      Adopt(*a, std::move(e));
      e = std::move(a);
    } else if (IsOp("[")) {
      e = Subscript(std::move(e));
    } else if (IsOp("(")) {
      auto c = Make(Expr::Kind::kCall, Peek().line);
      Adopt(*c, std::move(e));
      Arguments(*c);
      e = std::move(c);
    } else {
      return e;
    }
  }
}

// e[index] or e[start:stop] / e[start:stop:step] (any part may be omitted)
ExprPtr ExprParser::Subscript(ExprPtr e) {
  const int line = Next().line;
  ExprPtr start, stop, step;
  if (!IsOp(":")) start = Expression();
  ExprPtr result;
  if (IsOp(":")) {
    Next();
    if (!IsOp("]") && !IsOp(":")) stop = Expression();
    if (IsOp(":")) {
      Next();
      if (!IsOp("]")) step = Expression();
    }
    result = Make(Expr::Kind::kSlice, line);
    Adopt(*result, std::move(e));
    Adopt(*result, std::move(start));
    Adopt(*result, std::move(stop));
    Adopt(*result, std::move(step));
  } else {
    result = Make(Expr::Kind::kIndex, line);
    Adopt(*result, std::move(e));
    Adopt(*result, std::move(start));
  }
  Expect("]");
  return result;
}

ExprPtr ExprParser::Primary() {
  const Token& t = Next();
  if (t.kind == Token::Kind::kEnd) ParseFail(t.line, "unexpected end of expression");
  if (t.kind == Token::Kind::kOp) return Bracketed(t);
  return Literal(t);
}

ExprPtr ExprParser::Literal(const Token& t) {
  auto e = Make(Expr::Kind::kLiteral, t.line);
  if (t.kind == Token::Kind::kInt) {
    errno = 0;
    const long long i = std::strtoll(t.text.c_str(), nullptr, 10);
    if (errno == ERANGE) ParseFail(t.line, "integer literal " + t.text + " does not fit in 64 bits");
    e->literal = Value(static_cast<int64_t>(i));
  } else if (t.kind == Token::Kind::kFloat) {
    e->literal = Value(std::strtod(t.text.c_str(), nullptr));
  } else if (t.kind == Token::Kind::kString) {
    std::string s = t.text;
    while (Peek().kind == Token::Kind::kString) s += Next().text;  // adjacent literals join
    e->literal = Value(s);
  } else if (t.text == "true" || t.text == "True") {
    e->literal = Value(true);
  } else if (t.text == "false" || t.text == "False") {
    e->literal = Value(false);
  } else if (t.text == "none" || t.text == "None") {
    e->literal = Value::MakeNone();
  } else {
    e->kind = Expr::Kind::kName;
    e->name = t.text;
  }
  return e;
}

// (expression), a tuple (a, b) read as a list, [list] or {dict}
ExprPtr ExprParser::Bracketed(const Token& t) {
  if (t.text == "(") {
    ExprPtr inner = Expression();
    if (IsOp(",")) {
      auto l = Make(Expr::Kind::kList, t.line);
      Adopt(*l, std::move(inner));
      while (IsOp(",")) {
        Next();
        if (IsOp(")")) break;
        Adopt(*l, Expression());
      }
      inner = std::move(l);
    }
    Expect(")");
    return inner;
  }
  const bool list = t.text == "[";
  if (!list && t.text != "{") ParseFail(t.line, "unexpected '" + t.text + "'");
  auto e = Make(list ? Expr::Kind::kList : Expr::Kind::kDict, t.line);
  const char* close = list ? "]" : "}";
  while (!IsOp(close)) {
    Adopt(*e, Expression());
    if (!list) {
      Expect(":");
      Adopt(*e, Expression());
    }
    if (!IsOp(close)) Expect(",");
  }
  Expect(close);
  return e;
}

}  // namespace kvfuse::tokenizer::jinja
