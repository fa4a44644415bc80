#include "tokenizer/jinja/parser.h"

#include <memory>
#include <new>
#include <set>

#include "tokenizer/jinja/expr_parser.h"

namespace kvfuse::tokenizer::jinja {

using util::Result;
using util::Status;

namespace {

class TemplateParser {
 public:
  TemplateParser(const std::vector<Segment>& segments, const Limits& limits) : s_(segments), limits_(limits) {}

  // Parses statements until one of `terminators` (returned in *found, with the parser of
  // its tag in *rest) or the end.
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
      ExprParser& p = ParserFor(seg);
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
      ParseFail(s_.empty() ? 0 : s_.back().line, "missing {% " + names + " %}");
    }
    return body;
  }

 private:
  ExprParser& ParserFor(const Segment& s) {
    auto tokens = LexExpression(s.text, s.line);
    if (!tokens.ok()) throw ParseError{tokens.status().message()};
    // Expressions get the nesting that the enclosing blocks leave.
    parsers_.push_back(std::make_unique<ExprParser>(std::move(tokens).value(), limits_.max_nesting - depth_,
                                                     limits_.max_nesting));
    return *parsers_.back();  // statements keep their parser alive (see Block's *rest)
  }

  // Block() one level deeper: the blocks of a statement inside another.
  Body Nested(const std::set<std::string>& terminators, std::string* found, ExprParser** rest, int line) {
    if (depth_ + 1 > limits_.max_nesting) NestingFail(line, limits_.max_nesting);
    ++depth_;
    Body body = Block(terminators, found, rest);
    --depth_;
    return body;
  }

  std::unique_ptr<Node> Statement(const std::string& keyword, ExprParser& p, int line) {
    auto n = std::make_unique<Node>();
    n->line = line;
    if (keyword == "if") return If(std::move(n), p);
    if (keyword == "for") return For(std::move(n), p);
    if (keyword == "set") return Set(std::move(n), p);
    if (keyword == "break" || keyword == "continue") {
      // As jinja2 (loopcontrols): only inside a loop's body; elsewhere it ended the render.
      if (loops_ == 0) ParseFail(line, "'" + keyword + "' outside a for loop");
      n->kind = keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
      p.ExpectEnd();
      return n;
    }
    ParseFail(line, "unsupported construct '" + keyword + "'");
  }

  std::unique_ptr<Node> If(std::unique_ptr<Node> n, ExprParser& p) {
    n->kind = Node::Kind::kIf;
    ExprPtr cond = p.Expression();
    p.ExpectEnd();
    for (;;) {
      std::string found;
      ExprParser* rest = nullptr;
      Body body = Nested({"elif", "else", "endif"}, &found, &rest, n->line);
      n->branches.emplace_back(std::move(cond), std::move(body));
      if (found == "elif") {
        cond = rest->Expression();
        rest->ExpectEnd();
        continue;
      }
      rest->ExpectEnd();
      if (found == "else") {
        n->else_body = Nested({"endif"}, &found, &rest, n->line);
        rest->ExpectEnd();
      }
      return n;
    }
  }

  std::unique_ptr<Node> For(std::unique_ptr<Node> n, ExprParser& p) {
    n->kind = Node::Kind::kFor;
    n->targets.push_back(p.ExpectName());
    while (p.IsOp(",")) {
      p.Next();
      n->targets.push_back(p.ExpectName());
    }
    if (!p.IsName("in")) ParseFail(n->line, "expected 'in' in for loop");
    p.Next();
    n->expr = p.Expression();
    if (n->expr->kind == Expr::Kind::kTernary && n->expr->args[2]->kind == Expr::Kind::kLiteral &&
        n->expr->args[2]->literal.is_undefined()) {
      // "for x in items if cond": the parser read it as a ternary without else.
      n->filter = std::move(n->expr->args[1]);
      n->expr = std::move(n->expr->args[0]);
    }
    if (p.IsName("recursive")) ParseFail(n->line, "unsupported construct: recursive loops");
    p.ExpectEnd();
    std::string found;
    ExprParser* rest = nullptr;
    ++loops_;
    n->body = Nested({"else", "endfor"}, &found, &rest, n->line);
    --loops_;
    rest->ExpectEnd();
    if (found == "else") {
      n->else_body = Nested({"endfor"}, &found, &rest, n->line);
      rest->ExpectEnd();
    }
    return n;
  }

  std::unique_ptr<Node> Set(std::unique_ptr<Node> n, ExprParser& p) {
    n->kind = Node::Kind::kSet;
    n->targets.push_back(p.ExpectName());
    if (p.IsOp(".")) {
      p.Next();
      n->targets.push_back(p.ExpectName());
    }
    if (!p.IsOp("=")) ParseFail(n->line, "unsupported construct: block set ({% set x %}...{% endset %})");
    p.Next();
    n->expr = p.Expression();
    p.ExpectEnd();
    return n;
  }

  const std::vector<Segment>& s_;
  const Limits& limits_;
  size_t i_ = 0;
  int depth_ = 0;  // blocks open around the segment being parsed
  int loops_ = 0;  // for bodies open around it (a loop's else is not one)
  std::vector<std::unique_ptr<ExprParser>> parsers_;
};

}  // namespace

Result<Body> ParseTemplate(const std::vector<Segment>& segments, const Limits& limits) {
  try {
    TemplateParser parser(segments, limits);
    return parser.Block({}, nullptr, nullptr);
  } catch (const ParseError& e) {
    return Status::Error(e.message);
  } catch (const std::bad_alloc&) {
    return Status::Error("out of memory while parsing the template");
  }
}

}  // namespace kvfuse::tokenizer::jinja
