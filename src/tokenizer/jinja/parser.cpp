#include "tokenizer/jinja/parser.h"

#include <cstdlib>
#include <set>

namespace kvfuse::tokenizer::jinja {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

// Thrown inside the parser only and turned into a Status at its entry point.
struct ParseError {
  std::string message;
};

[[noreturn]] void Fail(int line, const std::string& what) { throw ParseError{StrFormat("line %d: %s", line, what.c_str())}; }

ExprPtr Make(Expr::Kind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

class ExprParser {
 public:
  explicit ExprParser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  const Token& Peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  bool AtEnd() const { return Peek().kind == Token::Kind::kEnd; }
  bool IsOp(const char* op, size_t ahead = 0) const { return Peek(ahead).kind == Token::Kind::kOp && Peek(ahead).text == op; }
  bool IsName(const char* name, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kName && Peek(ahead).text == name;
  }
  const Token& Next() { return t_[std::min(i_++, t_.size() - 1)]; }
  void Expect(const char* op) {
    if (!IsOp(op)) Fail(Peek().line, StrFormat("expected '%s' but found '%s'", op, Peek().text.c_str()));
    ++i_;
  }
  std::string ExpectName() {
    if (Peek().kind != Token::Kind::kName) Fail(Peek().line, "expected a name but found '" + Peek().text + "'");
    return Next().text;
  }
  void ExpectEnd() {
    if (!AtEnd()) Fail(Peek().line, "unexpected '" + Peek().text + "'");
  }

  // expression := or-expr [if or-expr [else expression]]
  ExprPtr Expression() {
    ExprPtr value = Or();
    if (IsName("if")) {
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
      e->args.push_back(std::move(value));
      e->args.push_back(std::move(cond));
      e->args.push_back(std::move(otherwise));
      return e;
    }
    return value;
  }

 private:
  ExprPtr Binary(ExprPtr left, const std::string& op, ExprPtr right) {
    auto e = Make(Expr::Kind::kBinary, left->line);
    e->name = op;
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }

  ExprPtr Or() {
    ExprPtr e = And();
    while (IsName("or")) {
      Next();
      e = Binary(std::move(e), "or", And());
    }
    return e;
  }
  ExprPtr And() {
    ExprPtr e = Not();
    while (IsName("and")) {
      Next();
      e = Binary(std::move(e), "and", Not());
    }
    return e;
  }
  ExprPtr Not() {
    if (IsName("not")) {
      const int line = Next().line;
      auto e = Make(Expr::Kind::kUnary, line);
      e->name = "not";
      e->args.push_back(Not());
      return e;
    }
    return Compare();
  }
  ExprPtr Compare() {
    ExprPtr e = Concat();
    for (;;) {
      if (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp(">") || IsOp("<=") || IsOp(">=")) {
        const std::string op = Next().text;
        e = Binary(std::move(e), op, Concat());
      } else if (IsName("in")) {
        Next();
        e = Binary(std::move(e), "in", Concat());
      } else if (IsName("not") && IsName("in", 1)) {
        Next();
        Next();
        e = Binary(std::move(e), "not in", Concat());
      } else if (IsName("is")) {
        const int line = Next().line;
        auto test = Make(Expr::Kind::kTest, line);
        if (IsName("not")) {
          Next();
          test->negated = true;
        }
        test->name = ExpectName();
        test->args.push_back(std::move(e));
        if (IsOp("(")) Arguments(*test);
        else if (!AtEnd() && (Peek().kind == Token::Kind::kString || Peek().kind == Token::Kind::kInt))
          test->args.push_back(Primary());  // "is divisibleby 3", "is sameas x"
        e = std::move(test);
      } else {
        return e;
      }
    }
  }
  ExprPtr Concat() {
    ExprPtr e = Additive();
    while (IsOp("~")) {
      Next();
      e = Binary(std::move(e), "~", Additive());
    }
    return e;
  }
  ExprPtr Additive() {
    ExprPtr e = Multiplicative();
    while (IsOp("+") || IsOp("-")) {
      const std::string op = Next().text;
      e = Binary(std::move(e), op, Multiplicative());
    }
    return e;
  }
  ExprPtr Multiplicative() {
    ExprPtr e = Unary();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const std::string op = Next().text;
      e = Binary(std::move(e), op, Unary());
    }
    return e;
  }
  ExprPtr Unary() {
    if (IsOp("-") || IsOp("+")) {
      const Token& t = Next();
      auto e = Make(Expr::Kind::kUnary, t.line);
      e->name = t.text;
      e->args.push_back(Unary());
      return e;
    }
    return Filtered();
  }
  ExprPtr Filtered() {
    ExprPtr e = Postfix(Primary());
    while (IsOp("|")) {
      const int line = Next().line;
      auto f = Make(Expr::Kind::kFilter, line);
      f->name = ExpectName();
      f->args.push_back(std::move(e));
      if (IsOp("(")) Arguments(*f);
      e = Postfix(std::move(f));
    }
    return e;
  }
  void Arguments(Expr& call) {
    Expect("(");
    while (!IsOp(")")) {
      if (Peek().kind == Token::Kind::kName && IsOp("=", 1)) {
        std::string key = Next().text;
        Next();
        call.kwargs.emplace_back(std::move(key), Expression());
      } else {
        call.args.push_back(Expression());
      }
      if (!IsOp(")")) Expect(",");
    }
    Expect(")");
  }
  ExprPtr Postfix(ExprPtr e) {
    for (;;) {
      if (IsOp(".")) {
        const int line = Next().line;
        auto a = Make(Expr::Kind::kAttr, line);
        a->name = ExpectName();
        a->args.push_back(std::move(e));
        e = std::move(a);
      } else if (IsOp("[")) {
        const int line = Next().line;
        ExprPtr start, stop;
        if (!IsOp(":")) start = Expression();
        if (IsOp(":")) {
          Next();
          if (!IsOp("]")) stop = Expression();
          auto s = Make(Expr::Kind::kSlice, line);
          s->args.push_back(std::move(e));
          s->args.push_back(std::move(start));
          s->args.push_back(std::move(stop));
          e = std::move(s);
        } else {
          auto ix = Make(Expr::Kind::kIndex, line);
          ix->args.push_back(std::move(e));
          ix->args.push_back(std::move(start));
          e = std::move(ix);
        }
        Expect("]");
      } else if (IsOp("(")) {
        auto c = Make(Expr::Kind::kCall, Peek().line);
        c->args.push_back(std::move(e));
        Arguments(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }
  ExprPtr Primary() {
    const Token& t = Next();
    switch (t.kind) {
      case Token::Kind::kInt: {
        auto e = Make(Expr::Kind::kLiteral, t.line);
        e->literal = Value(static_cast<int64_t>(std::strtoll(t.text.c_str(), nullptr, 10)));
        return e;
      }
      case Token::Kind::kFloat: {
        auto e = Make(Expr::Kind::kLiteral, t.line);
        e->literal = Value(std::strtod(t.text.c_str(), nullptr));
        return e;
      }
      case Token::Kind::kString: {
        auto e = Make(Expr::Kind::kLiteral, t.line);
        std::string s = t.text;
        while (Peek().kind == Token::Kind::kString) s += Next().text;  // adjacent literals join
        e->literal = Value(s);
        return e;
      }
      case Token::Kind::kName: {
        auto e = Make(Expr::Kind::kLiteral, t.line);
        if (t.text == "true" || t.text == "True") e->literal = Value(true);
        else if (t.text == "false" || t.text == "False") e->literal = Value(false);
        else if (t.text == "none" || t.text == "None") e->literal = Value::MakeNone();
        else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        return e;
      }
      case Token::Kind::kOp:
        if (t.text == "(") {
          ExprPtr inner = Expression();
          if (IsOp(",")) {  // a tuple: treated as a list
            auto l = Make(Expr::Kind::kList, t.line);
            l->args.push_back(std::move(inner));
            while (IsOp(",")) {
              Next();
              if (IsOp(")")) break;
              l->args.push_back(Expression());
            }
            inner = std::move(l);
          }
          Expect(")");
          return inner;
        }
        if (t.text == "[") {
          auto l = Make(Expr::Kind::kList, t.line);
          while (!IsOp("]")) {
            l->args.push_back(Expression());
            if (!IsOp("]")) Expect(",");
          }
          Expect("]");
          return l;
        }
        if (t.text == "{") {
          auto d = Make(Expr::Kind::kDict, t.line);
          while (!IsOp("}")) {
            d->args.push_back(Expression());
            Expect(":");
            d->args.push_back(Expression());
            if (!IsOp("}")) Expect(",");
          }
          Expect("}");
          return d;
        }
        break;
      case Token::Kind::kEnd:
        Fail(t.line, "unexpected end of expression");
    }
    Fail(t.line, "unexpected '" + t.text + "'");
  }

  std::vector<Token> t_;
  size_t i_ = 0;
};

ExprParser ParserFor(const Segment& s) {
  auto tokens = LexExpression(s.text, s.line);
  if (!tokens.ok()) throw ParseError{tokens.status().message()};
  return ExprParser(std::move(tokens).value());
}

class TemplateParser {
 public:
  explicit TemplateParser(const std::vector<Segment>& segments) : s_(segments) {}

  // Parses statements until one of `terminators` (returned in *found) or the end.
  Body Block(const std::set<std::string>& terminators, std::string* found, ExprParser** rest) {
    Body body;
    while (i_ < s_.size()) {
      const Segment& seg = s_[i_++];
      if (seg.kind == Segment::Kind::kText) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kText;
        n->text = seg.text;
        body.push_back(std::move(n));
        continue;
      }
      parsers_.push_back(std::make_unique<ExprParser>(ParserFor(seg)));
      ExprParser& p = *parsers_.back();
      if (seg.kind == Segment::Kind::kOutput) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kOutput;
        n->line = seg.line;
        n->expr = p.Expression();
        p.ExpectEnd();
        body.push_back(std::move(n));
        continue;
      }
      const std::string keyword = p.ExpectName();
      if (terminators.count(keyword)) {
        if (found) *found = keyword;
        if (rest) *rest = &p;
        return body;
      }
      body.push_back(Statement(keyword, p, seg.line));
    }
    if (!terminators.empty()) {
      std::string names;
      for (const auto& t : terminators) names += (names.empty() ? "" : " or ") + t;
      Fail(s_.empty() ? 0 : s_.back().line, "missing {% " + names + " %}");
    }
    return body;
  }

 private:
  std::unique_ptr<Node> Statement(const std::string& keyword, ExprParser& p, int line) {
    auto n = std::make_unique<Node>();
    n->line = line;
    if (keyword == "if") {
      n->kind = Node::Kind::kIf;
      ExprPtr cond = p.Expression();
      p.ExpectEnd();
      for (;;) {
        std::string found;
        ExprParser* rest = nullptr;
        Body body = Block({"elif", "else", "endif"}, &found, &rest);
        n->branches.emplace_back(std::move(cond), std::move(body));
        if (found == "elif") {
          cond = rest->Expression();
          rest->ExpectEnd();
          continue;
        }
        rest->ExpectEnd();
        if (found == "else") {
          n->else_body = Block({"endif"}, &found, &rest);
          rest->ExpectEnd();
        }
        return n;
      }
    }
    if (keyword == "for") {
      n->kind = Node::Kind::kFor;
      n->targets.push_back(p.ExpectName());
      while (p.IsOp(",")) {
        p.Next();
        n->targets.push_back(p.ExpectName());
      }
      if (!p.IsName("in")) Fail(line, "expected 'in' in for loop");
      p.Next();
      n->expr = p.Expression();
      if (n->expr->kind == Expr::Kind::kTernary && n->expr->args[2]->kind == Expr::Kind::kLiteral &&
          n->expr->args[2]->literal.is_undefined()) {
        // "for x in items if cond": the parser read it as a ternary without else.
        n->filter = std::move(n->expr->args[1]);
        n->expr = std::move(n->expr->args[0]);
      }
      if (p.IsName("recursive")) Fail(line, "unsupported construct: recursive loops");
      p.ExpectEnd();
      std::string found;
      ExprParser* rest = nullptr;
      n->body = Block({"else", "endfor"}, &found, &rest);
      rest->ExpectEnd();
      if (found == "else") {
        n->else_body = Block({"endfor"}, &found, &rest);
        rest->ExpectEnd();
      }
      return n;
    }
    if (keyword == "set") {
      n->kind = Node::Kind::kSet;
      n->targets.push_back(p.ExpectName());
      if (p.IsOp(".")) {
        p.Next();
        n->targets.push_back(p.ExpectName());
      }
      if (!p.IsOp("=")) Fail(line, "unsupported construct: block set ({% set x %}...{% endset %})");
      p.Next();
      n->expr = p.Expression();
      p.ExpectEnd();
      return n;
    }
    if (keyword == "break" || keyword == "continue") {
      n->kind = keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      p.ExpectEnd();
      return n;
    }
    Fail(line, "unsupported construct '" + keyword + "'");
  }

  const std::vector<Segment>& s_;
  size_t i_ = 0;
  std::vector<std::unique_ptr<ExprParser>> parsers_;  // statements keep their parser alive
};

}  // namespace

Result<Body> ParseTemplate(const std::vector<Segment>& segments) {
  try {
    TemplateParser parser(segments);
    return parser.Block({}, nullptr, nullptr);
  } catch (const ParseError& e) {
    return Status::Error(e.message);
  }
}

}  // namespace kvfuse::tokenizer::jinja
