// The parsed form of a template: expressions and statements of the Jinja subset that
// chat templates use (see chat_template.h for the list).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace kvfuse::tokenizer::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // literal
    kName,     // name
    kList,     // [args...]
    kDict,     // {kwargs...} with string-expression keys in args (key, value pairs)
    kAttr,     // args[0].name
    kIndex,    // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]] (null = omitted)
    kCall,     // args[0](args[1..], kwargs)
    kFilter,   // args[0] | name(args[1..], kwargs)
    kTest,     // args[0] is [not] name(args[1..])
    kUnary,    // name in {"not", "-"} applied to args[0]
    kBinary,   // args[0] name args[1]
    kCompare,  // args[0] kwargs[0].first kwargs[0].second kwargs[1].first ...: a chain of
               // comparisons, true when each is (a < b < c: a < b and b < c, b evaluated once)
    kTernary,  // args[0] if args[1] else args[2]
  };
  Kind kind;
  int line = 0;
  int depth = 1;  // levels of this subtree (the parser bounds it: see Limits::max_nesting)
  Value literal;
  std::string name;
  bool negated = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kBreak, kContinue };
  Kind kind;
  int line = 0;
  std::string text;                                  // kText
  ExprPtr expr;                                      // kOutput, kSet value, kFor iterable
  std::vector<std::pair<ExprPtr, Body>> branches;    // kIf: condition, body
  Body body, else_body;                              // kFor (else_body: kIf's else too)
  std::vector<std::string> targets;                  // kFor loop variables; kSet: name[, attr]
  ExprPtr filter;                                    // kFor ... if filter
};

}  // namespace kvfuse::tokenizer::jinja
