// Internal to the parser: parses the tokens of one tag into expressions, refusing trees
// deeper than the nesting limit before the recursion that builds them gets there.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"

namespace kvfuse::tokenizer::jinja {

// Thrown inside the parser only and turned into a Status at its entry point.
struct ParseError {
  std::string message;
};

[[noreturn]] void ParseFail(int line, const std::string& what);
// The error for a template nesting deeper than `limit` levels.
[[noreturn]] void NestingFail(int line, int limit);

class ExprParser {
 public:
  // Expressions may nest max_depth levels (what is left of `limit` under the enclosing
  // blocks); `limit` is the configured total, for the error message.
  ExprParser(std::vector<Token> tokens, int max_depth, int limit);

  const Token& Peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  bool AtEnd() const { return Peek().kind == Token::Kind::kEnd; }
  bool IsOp(const char* op, size_t ahead = 0) const { return Peek(ahead).kind == Token::Kind::kOp && Peek(ahead).text == op; }
  bool IsName(const char* name, size_t ahead = 0) const {
    return Peek(ahead).kind == Token::Kind::kName && Peek(ahead).text == name;
  }
  const Token& Next() { return t_[std::min(i_++, t_.size() - 1)]; }
  void Expect(const char* op);
  std::string ExpectName();
  void ExpectEnd();

  // expression := or-expr [if or-expr [else expression]]
  ExprPtr Expression();

 private:
  // Counts one level of the parser's recursion for as long as it lives.
  class Nest {
   public:
    Nest(ExprParser& p, int line);
    ~Nest() { --p_.nesting_; }

   private:
    ExprParser& p_;
  };

  ExprPtr Make(Expr::Kind kind, int line) const;
  // Appends an argument, keeping parent.depth and failing past the limit.
  void Adopt(Expr& parent, ExprPtr child);
  void AdoptKwarg(Expr& parent, std::string key, ExprPtr child);
  ExprPtr Binary(ExprPtr left, const std::string& op, ExprPtr right);

  ExprPtr Or();
  ExprPtr And();
  ExprPtr Not();
  ExprPtr Compare();
  ExprPtr Test(ExprPtr subject);
  ExprPtr Concat();
  ExprPtr Additive();
  ExprPtr Multiplicative();
  ExprPtr Unary();
  ExprPtr Filtered();
  void Arguments(Expr& call);
  ExprPtr Postfix(ExprPtr e);
  ExprPtr Subscript(ExprPtr e);
  ExprPtr Primary();
  ExprPtr Literal(const Token& t);
  ExprPtr Bracketed(const Token& t);

  std::vector<Token> t_;
  size_t i_ = 0;
  int max_depth_;
  int limit_;
  int nesting_ = 0;
};

}  // namespace kvfuse::tokenizer::jinja
