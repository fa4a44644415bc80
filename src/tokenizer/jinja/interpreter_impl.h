// Internal to the interpreter: its state, shared by the files that implement it
// (interpreter.cpp: statements, evaluation and limits; operators.cpp; builtins.cpp:
// functions, methods and tests; filters.cpp).
//
// Every string, list or dict a template builds whose size it controls goes through
// NewString / NewList / NewDict (or is size-checked before it is built), every evaluation
// through Eval and every statement through Exec: together they enforce the Limits and
// charge the step budget for the work done, so a hostile template ends in an error.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/limits.h"
#include "util/status.h"

namespace kvfuse::tokenizer::jinja {

// Thrown inside the interpreter only and turned into a Status by Render.
struct RenderError {
  std::string message;
};

[[noreturn]] void RenderFail(int line, const std::string& what);

enum class Flow { kNormal, kBreak, kContinue };

class Interpreter {
 public:
  Interpreter(const Dict& globals, const Limits& limits);
  Flow Run(const Body& body);
  std::string& output() { return out_; }

 private:
  // Counts one level of Eval / Exec recursion for as long as it lives.
  class Deeper {
   public:
    Deeper(Interpreter& in, int line);
    ~Deeper() { --in_.depth_; }

   private:
    Interpreter& in_;
  };

  // interpreter.cpp: statements.
  Flow Exec(const Node& n);
  void Set(const Node& n);
  Flow For(const Node& n);
  List Iterate(const Value& iterable, int line);
  Value Lookup(const std::string& name) const;

  // interpreter.cpp: evaluation, limits and the step budget.
  Value Eval(const Expr& e);
  Value EvalNode(const Expr& e);
  void Step(int line, int64_t units = 1);
  void StepBytes(int line, size_t bytes) { Step(line, static_cast<int64_t>(bytes / Limits::kBytesPerStep)); }
  [[noreturn]] void FailString(int line) const;
  [[noreturn]] void FailList(int line) const;
  void CheckString(int line, size_t bytes) const {
    if (bytes > limits_.max_string_bytes) FailString(line);
  }
  void CheckList(int line, size_t items) const {
    if (items > limits_.max_list_items) FailList(line);
  }
  Value NewString(int line, std::string s);
  Value NewList(int line, List l);
  Value NewDict(int line, Dict d);
  Value CheckDepth(int line, Value v);  // v, unless it nests deeper than max_value_depth
  // str(v), within max_string_bytes.
  std::string Text(const Value& v, int line);
  // v == w, charged per value compared.
  bool Same(const Value& v, const Value& w, int line);
  // obj[key] for a dict (undefined otherwise), charged per entry scanned.
  Value Get(const Value& obj, const std::string& key, int line);
  int64_t Int(const Value& v, int line);
  template <typename T>
  T Unwrap(util::Result<T> r, int line) {
    if (!r.ok()) RenderFail(line, r.status().message());
    return std::move(r).value();
  }

  // operators.cpp
  Value Binary(const Expr& e);
  Value Apply(const std::string& op, const Value& a, const Value& b, int line);
  Value CompareChain(const Expr& e);
  Value Compare(const std::string& op, const Value& a, const Value& b, int line);
  bool In(const Value& needle, const Value& hay, int line);
  Value Concat(const Value& a, const Value& b, int line);
  Value Repeat(const Value& s, const Value& n, int line);
  Value Unary(const Expr& e);
  Value Index(const Value& obj, const Value& key, int line);
  Value Slice(const Expr& e);

  // builtins.cpp
  Value Kwarg(const Expr& e, const std::string& name, size_t position, Value fallback = Value());
  Value Call(const Expr& e);
  Value Range(const Expr& e);
  Value Namespace(const Expr& e);
  Value Method(const Value& obj, const std::string& m, const Expr& e);
  std::optional<Value> StringMethod(const std::string& s, const std::string& m, const Expr& e);
  std::optional<Value> DictMethod(const Value& obj, const std::string& m, const Expr& e);
  Value Replace(const std::string& s, const std::string& from, const std::string& to, int line);
  Value Split(const std::string& s, const std::string& sep, int line);
  bool Test(const Expr& e);

  // filters.cpp
  Value Filter(const Expr& e);
  std::optional<Value> TextFilter(const std::string& f, const Value& v, const Expr& e);
  Value ToJson(const Value& v, const Expr& e);
  std::optional<Value> SequenceFilter(const std::string& f, const Value& v, const Expr& e);
  Value Join(const Value& v, const Expr& e);
  Value ToList(const Value& v, int line);
  Value SelectAttr(const std::string& f, const Value& v, const Expr& e);
  Value MapAttr(const Value& v, const Expr& e);

  const Limits& limits_;
  std::vector<std::unordered_map<std::string, Value>> scopes_;
  std::string out_;
  int64_t steps_left_;
  int depth_ = 0;
};

}  // namespace kvfuse::tokenizer::jinja
