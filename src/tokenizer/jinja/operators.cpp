// Operators, indexing and slicing of the interpreter (see interpreter_impl.h).
#include <algorithm>
#include <optional>

#include "tokenizer/jinja/arithmetic.h"
#include "tokenizer/jinja/interpreter_impl.h"
#include "tokenizer/jinja/text.h"

namespace kvfuse::tokenizer::jinja {

Value Interpreter::Binary(const Expr& e) {
  const std::string& op = e.name;
  if (op == "and") {
    Value a = Eval(*e.args[0]);
    return a.Truthy() ? Eval(*e.args[1]) : a;
  }
  if (op == "or") {
    Value a = Eval(*e.args[0]);
    return a.Truthy() ? a : Eval(*e.args[1]);
  }
  return Apply(op, Eval(*e.args[0]), Eval(*e.args[1]), e.line);
}

Value Interpreter::CompareChain(const Expr& e) {
  Value left = Eval(*e.args[0]);
  for (const auto& [op, operand] : e.kwargs) {
    Value right = Eval(*operand);
    if (!Apply(op, left, right, e.line).Truthy()) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

// Every binary operator but the short-circuit ones, on evaluated operands.
Value Interpreter::Apply(const std::string& op, const Value& a, const Value& b, int line) {
  if (op == "==") return Value(Same(a, b, line));
  if (op == "!=") return Value(!Same(a, b, line));
  if (op == "~") return Concat(a, b, line);
  if (op == "in" || op == "not in") return Value(In(a, b, line) != (op == "not in"));
  if (a.is_undefined() || b.is_undefined()) RenderFail(line, "undefined value in '" + op + "'");
  if (op == "<" || op == ">" || op == "<=" || op == ">=") return Compare(op, a, b, line);
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Concat(a, b, line);
    if (a.is_list() && b.is_list()) {
      CheckList(line, a.as_list().size() + b.as_list().size());
      List l = a.as_list();
      l.insert(l.end(), b.as_list().begin(), b.as_list().end());
      return NewList(line, std::move(l));
    }
  }
  if (op == "*" && a.is_string() && (b.is_int() || b.is_bool())) return Repeat(a, b, line);
  if (op == "*" && b.is_string() && (a.is_int() || a.is_bool())) return Repeat(b, a, line);
  return Unwrap(NumericBinary(op, a, b), line);
}

Value Interpreter::Compare(const std::string& op, const Value& a, const Value& b, int line) {
  int cmp;
  if (a.is_string() && b.is_string()) {
    StepBytes(line, std::min(a.as_string().size(), b.as_string().size()));
    cmp = a.as_string().compare(b.as_string());
  } else if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool())) {
    cmp = a.as_number() < b.as_number() ? -1 : a.as_number() > b.as_number() ? 1 : 0;
  } else {
    RenderFail(line, std::string("cannot compare ") + a.TypeName() + " and " + b.TypeName());
  }
  return Value(op == "<" ? cmp < 0 : op == ">" ? cmp > 0 : op == "<=" ? cmp <= 0 : cmp >= 0);
}

bool Interpreter::In(const Value& needle, const Value& hay, int line) {
  if (hay.is_string() && needle.is_string()) {
    StepBytes(line, hay.as_string().size() + needle.as_string().size());
    if (needle.as_string().size() > hay.as_string().size()) return false;  // no search table for a needle too big
    return text::Searcher(needle.as_string()).Find(hay.as_string()) != std::string::npos;
  }
  if (hay.is_list()) {
    for (const Value& x : hay.as_list())
      if (Same(x, needle, line)) return true;
    return false;
  }
  if (hay.is_dict()) return !Get(hay, Text(needle, line), line).is_undefined();
  if (!hay.is_undefined()) RenderFail(line, std::string("'in' needs a string, list or dict, not ") + hay.TypeName());
  return false;
}

// str(a) + str(b), refused before it passes max_string_bytes.
Value Interpreter::Concat(const Value& a, const Value& b, int line) {
  std::string s;
  if (!a.AppendStr(&s, limits_.max_string_bytes) || !b.AppendStr(&s, limits_.max_string_bytes)) FailString(line);
  return NewString(line, std::move(s));
}

// s * n (or n * s) as in Python: n copies of s, none for n <= 0.
Value Interpreter::Repeat(const Value& s, const Value& n, int line) {
  const std::string& unit = s.as_string();
  const int64_t times = Int(n, line);
  if (times <= 0 || unit.empty()) return Value(std::string());
  // Checked before multiplying: times * unit.size() may not even fit in 64 bits.
  if (static_cast<uint64_t>(times) > limits_.max_string_bytes / unit.size()) FailString(line);
  std::string out;
  out.reserve(static_cast<size_t>(times) * unit.size());
  for (int64_t i = 0; i < times; ++i) out += unit;
  return NewString(line, std::move(out));
}

Value Interpreter::Unary(const Expr& e) {
  const Value v = Eval(*e.args[0]);
  if (e.name == "not") return Value(!v.Truthy());
  if (!v.is_number()) RenderFail(e.line, "unary " + e.name + " on " + v.TypeName());
  if (e.name == "+") return v;
  return Unwrap(Negate(v), e.line);
}

Value Interpreter::Index(const Value& obj, const Value& key, int line) {
  if (obj.is_dict()) return Get(obj, Text(key, line), line);
  if (obj.is_list() || obj.is_string()) {
    if (!key.is_int()) return Value();
    if (obj.is_string()) StepBytes(line, obj.as_string().size());
    const std::vector<size_t> offsets = obj.is_string() ? text::CodePointOffsets(obj.as_string()) : std::vector<size_t>();
    const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.as_list().size()) : static_cast<int64_t>(offsets.size()) - 1;
    int64_t i = key.as_int();
    if (i < 0) i += n;  // i >= INT64_MIN and n >= 0: no overflow
    if (i < 0 || i >= n) return Value();
    if (obj.is_list()) return obj.as_list()[i];
    return Value(obj.as_string().substr(offsets[i], offsets[i + 1] - offsets[i]));
  }
  if (obj.is_undefined()) RenderFail(line, "indexing an undefined value");
  return Value();
}

// Python's slice semantics: negative bounds count from the end, bounds are clamped, a
// negative step walks backwards; strings are sliced by code point.
Value Interpreter::Slice(const Expr& e) {
  const Value obj = Eval(*e.args[0]);
  if (!obj.is_list() && !obj.is_string()) RenderFail(e.line, std::string("cannot slice ") + obj.TypeName());
  if (obj.is_string()) StepBytes(e.line, obj.as_string().size());
  const std::vector<size_t> offsets = obj.is_string() ? text::CodePointOffsets(obj.as_string()) : std::vector<size_t>();
  const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.as_list().size()) : static_cast<int64_t>(offsets.size()) - 1;
  // Python evaluates start, stop and step left to right; none means omitted.
  auto given = [&](const ExprPtr& x) -> std::optional<int64_t> {
    if (!x) return std::nullopt;
    const Value v = Eval(*x);
    if (v.is_none()) return std::nullopt;
    return Int(v, e.line);
  };
  const std::optional<int64_t> first = given(e.args[1]), last = given(e.args[2]), by = given(e.args[3]);
  const int64_t step = by.value_or(1);
  if (step == 0) RenderFail(e.line, "slice step cannot be zero");
  auto bound = [&](std::optional<int64_t> i, int64_t fallback) {
    if (!i) return fallback;
    // From the end when negative (without overflow for very negative bounds), then clamped.
    const int64_t v = *i >= 0 ? *i : *i >= -n ? *i + n : (step > 0 ? 0 : -1);
    return step > 0 ? std::clamp<int64_t>(v, 0, n) : std::clamp<int64_t>(v, -1, n - 1);
  };
  const int64_t start = bound(first, step > 0 ? 0 : n - 1), stop = bound(last, step > 0 ? n : -1);
  const int64_t count = Unwrap(RangeLength(start, stop, step), e.line);
  if (obj.is_string() && step == 1) {
    const size_t b = offsets[start], end = offsets[start + count];
    return NewString(e.line, obj.as_string().substr(b, end - b));
  }
  std::string out;
  List items;
  for (int64_t k = 0; k < count; ++k) {
    const int64_t i = RangeItem(start, step, k);
    if (obj.is_list()) items.push_back(obj.as_list()[i]);
    else out.append(obj.as_string(), offsets[i], offsets[i + 1] - offsets[i]);
  }
  return obj.is_string() ? NewString(e.line, std::move(out)) : NewList(e.line, std::move(items));
}

}  // namespace kvfuse::tokenizer::jinja
