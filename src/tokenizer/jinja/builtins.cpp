// Functions, methods and tests of the interpreter (see interpreter_impl.h).
#include <algorithm>

#include "tokenizer/jinja/arithmetic.h"
#include "tokenizer/jinja/interpreter_impl.h"
#include "tokenizer/jinja/text.h"

namespace kvfuse::tokenizer::jinja {

using util::StrFormat;

Value Interpreter::Kwarg(const Expr& e, const std::string& name, size_t position, Value fallback) {
  for (const auto& [k, v] : e.kwargs)
    if (k == name) return Eval(*v);
  return position < e.args.size() ? Eval(*e.args[position]) : fallback;
}

Value Interpreter::Call(const Expr& e) {
  const Expr& callee = *e.args[0];
  if (callee.kind == Expr::Kind::kAttr) return Method(Eval(*callee.args[0]), callee.name, e);
  if (callee.kind != Expr::Kind::kName) RenderFail(e.line, "only named functions can be called");
  const std::string& f = callee.name;
  if (f == "raise_exception") {
    std::string message = Text(Kwarg(e, "message", 1), e.line);
    constexpr size_t kShown = 1000;  // the template's own message, not a megabyte of it
    if (message.size() > kShown) message = message.substr(0, kShown) + "...";
    RenderFail(e.line, "template error: " + message);
  }
  if (f == "range") return Range(e);
  if (f == "namespace") return Namespace(e);
  RenderFail(e.line, "unsupported function '" + f + "'");
}

// range(stop) or range(start, stop[, step]), at most limits_.max_range items.
Value Interpreter::Range(const Expr& e) {
  if (e.args.size() < 2 || e.args.size() > 4) RenderFail(e.line, "range() takes 1 to 3 arguments");
  int64_t start = 0, stop, step = 1;
  if (e.args.size() == 2) {
    stop = Int(Eval(*e.args[1]), e.line);
  } else {
    start = Int(Eval(*e.args[1]), e.line);
    stop = Int(Eval(*e.args[2]), e.line);
    if (e.args.size() > 3) step = Int(Eval(*e.args[3]), e.line);
  }
  const int64_t n = Unwrap(RangeLength(start, stop, step), e.line);
  if (n > limits_.max_range)
    RenderFail(e.line, StrFormat("range() of %lld items exceeds the limit of %lld (max_range)", static_cast<long long>(n),
                                 static_cast<long long>(limits_.max_range)));
  CheckList(e.line, static_cast<size_t>(n));
  List l;
  l.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) l.push_back(Value(RangeItem(start, step, i)));
  return NewList(e.line, std::move(l));
}

Value Interpreter::Namespace(const Expr& e) {
  Dict d;
  for (const auto& [k, x] : e.kwargs) {
    Value v = Eval(*x);
    if (v.holds_namespace()) RenderFail(e.line, "a namespace cannot be stored inside a namespace");
    d.emplace_back(k, std::move(v));
  }
  Value ns = Value::MakeNamespace(std::move(d));
  if (ns.depth() > limits_.max_value_depth)
    RenderFail(e.line, StrFormat("a value would nest deeper than %d levels of lists and dicts (limit max_value_depth)",
                                 limits_.max_value_depth));
  return ns;
}

Value Interpreter::Method(const Value& obj, const std::string& m, const Expr& e) {
  std::optional<Value> v;
  if (obj.is_string()) v = StringMethod(obj.as_string(), m, e);
  else if (obj.is_dict()) v = DictMethod(obj, m, e);
  if (!v) RenderFail(e.line, std::string("unsupported method '") + m + "' of " + obj.TypeName());
  return *v;
}

std::optional<Value> Interpreter::StringMethod(const std::string& s, const std::string& m, const Expr& e) {
  const int line = e.line;
  const std::string arg = e.args.size() > 1 ? Text(Eval(*e.args[1]), line) : "";
  if (m == "strip") return NewString(line, text::Strip(s, arg, true, true));
  if (m == "lstrip") return NewString(line, text::Strip(s, arg, true, false));
  if (m == "rstrip") return NewString(line, text::Strip(s, arg, false, true));
  if (m == "startswith") return Value(s.compare(0, arg.size(), arg) == 0 && s.size() >= arg.size());
  if (m == "endswith") return Value(s.size() >= arg.size() && s.compare(s.size() - arg.size(), arg.size(), arg) == 0);
  if (m == "upper") return NewString(line, text::Upper(s));
  if (m == "lower") return NewString(line, text::Lower(s));
  if (m == "title") return NewString(line, text::Title(s));
  if (m == "capitalize") return NewString(line, text::Capitalize(s));
  if (m == "replace") return Replace(s, arg, e.args.size() > 2 ? Text(Eval(*e.args[2]), line) : "", line);
  if (m == "split") return Split(s, arg, line);
  return std::nullopt;
}

std::optional<Value> Interpreter::DictMethod(const Value& obj, const std::string& m, const Expr& e) {
  const Dict& d = obj.as_dict();
  if (m == "items") {
    List l;
    for (const auto& [k, v] : d) {
      StepBytes(e.line, k.size());
      l.push_back(Value(List{Value(k), v}));
    }
    return NewList(e.line, std::move(l));
  }
  if (m == "keys" || m == "values") {
    List l;
    for (const auto& [k, v] : d) {
      StepBytes(e.line, m == "keys" ? k.size() : 0);
      l.push_back(m == "keys" ? Value(k) : v);
    }
    return NewList(e.line, std::move(l));
  }
  if (m == "get") {
    const Value v = Get(obj, Text(Eval(*e.args.at(1)), e.line), e.line);
    return v.is_undefined() ? (e.args.size() > 2 ? Eval(*e.args[2]) : Value::MakeNone()) : v;
  }
  return std::nullopt;
}

// s.replace(from, to), its size checked before it is built.
Value Interpreter::Replace(const std::string& s, const std::string& from, const std::string& to, int line) {
  if (from.empty() || from.size() > s.size()) return Value(s);
  StepBytes(line, s.size());
  if (to.size() > from.size()) {
    const size_t count = text::Searcher(from).Count(s);
    const size_t growth = to.size() - from.size();
    if (count > (limits_.max_string_bytes - std::min(s.size(), limits_.max_string_bytes)) / growth) FailString(line);
  }
  return NewString(line, text::ReplaceAll(s, from, to));
}

Value Interpreter::Split(const std::string& s, const std::string& sep, int line) {
  StepBytes(line, s.size());
  bool truncated = false;
  std::vector<std::string> parts = text::Split(s, sep, limits_.max_list_items, &truncated);
  if (truncated) FailList(line);
  List l;
  l.reserve(parts.size());
  for (std::string& p : parts) l.push_back(Value(std::move(p)));
  return NewList(line, std::move(l));
}

bool Interpreter::Test(const Expr& e) {
  const Value v = Eval(*e.args[0]);
  const std::string& t = e.name;
  if (t == "defined") return !v.is_undefined();
  if (t == "undefined") return v.is_undefined();
  if (t == "none") return v.is_none();
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer") return v.is_int();
  if (t == "float") return v.is_float();
  if (t == "boolean") return v.is_bool();
  if (t == "true") return v.is_bool() && v.as_bool();
  if (t == "false") return v.is_bool() && !v.as_bool();
  if (t == "mapping") return v.is_dict();
  if (t == "sequence" || t == "iterable") return v.is_list() || v.is_string() || v.is_dict();
  if (t == "odd" || t == "even") return (Int(v, e.line) % 2 != 0) == (t == "odd");
  if (t == "divisibleby") return Int(v, e.line) % std::max<int64_t>(1, Int(Eval(*e.args.at(1)), e.line)) == 0;
  if (t == "eq" || t == "equalto" || t == "sameas") return Same(v, Eval(*e.args.at(1)), e.line);
  RenderFail(e.line, "unsupported test '" + t + "'");
}

}  // namespace kvfuse::tokenizer::jinja
