#include "tokenizer/jinja/interpreter.h"

#include <algorithm>
#include <new>
#include <stdexcept>

#include "tokenizer/jinja/arithmetic.h"
#include "tokenizer/jinja/interpreter_impl.h"

namespace kvfuse::tokenizer::jinja {

using util::Result;
using util::Status;
using util::StrFormat;

void RenderFail(int line, const std::string& what) { throw RenderError{StrFormat("line %d: %s", line, what.c_str())}; }

Interpreter::Interpreter(const Dict& globals, const Limits& limits) : limits_(limits), steps_left_(limits.max_steps) {
  scopes_.emplace_back();
  for (const auto& [k, v] : globals) scopes_.back()[k] = v;
}

Interpreter::Deeper::Deeper(Interpreter& in, int line) : in_(in) {
  if (++in_.depth_ > in_.limits_.max_eval_depth) {
    --in_.depth_;
    RenderFail(line, StrFormat("evaluation nested deeper than %d levels (limit max_eval_depth)", in_.limits_.max_eval_depth));
  }
}

Flow Interpreter::Run(const Body& body) {
  for (const auto& node : body) {
    const Flow f = Exec(*node);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Flow Interpreter::Exec(const Node& n) {
  Deeper deeper(*this, n.line);
  Step(n.line);
  switch (n.kind) {
    case Node::Kind::kText:
      if (n.text.size() > limits_.max_output_bytes - std::min(out_.size(), limits_.max_output_bytes))
        RenderFail(n.line, StrFormat("the output would exceed %zu bytes (limit max_output_bytes)", limits_.max_output_bytes));
      out_ += n.text;
      return Flow::kNormal;
    case Node::Kind::kOutput: {
      const size_t before = out_.size();
      if (!Eval(*n.expr).AppendStr(&out_, limits_.max_output_bytes))
        RenderFail(n.line, StrFormat("the output would exceed %zu bytes (limit max_output_bytes)", limits_.max_output_bytes));
      StepBytes(n.line, out_.size() - before);
      return Flow::kNormal;
    }
    case Node::Kind::kIf:
      for (const auto& [cond, body] : n.branches)
        if (Eval(*cond).Truthy()) return Run(body);
      return Run(n.else_body);
    case Node::Kind::kSet: Set(n); return Flow::kNormal;
    case Node::Kind::kFor: return For(n);
    case Node::Kind::kBreak: return Flow::kBreak;
    case Node::Kind::kContinue: return Flow::kContinue;
  }
  return Flow::kNormal;
}

void Interpreter::Set(const Node& n) {
  Value v = Eval(*n.expr);
  if (n.targets.size() == 1) {
    scopes_.back()[n.targets[0]] = std::move(v);
    return;
  }
  const Value ns = Lookup(n.targets[0]);
  if (!ns.is_namespace()) RenderFail(n.line, std::string("cannot set an attribute of ") + ns.TypeName() + ", only of a namespace()");
  // Namespaces are the only mutable values. Kept out of each other, no value can contain
  // itself and values stay within twice max_value_depth (see Value::depth()).
  if (v.holds_namespace()) RenderFail(n.line, "a namespace cannot be stored inside a namespace");
  if (v.depth() + 1 > limits_.max_value_depth)
    RenderFail(n.line, StrFormat("a value would nest deeper than %d levels of lists and dicts (limit max_value_depth)",
                                 limits_.max_value_depth));
  Step(n.line, static_cast<int64_t>(ns.as_dict().size()));  // SetAttr scans the attributes
  ns.SetAttr(n.targets[1], std::move(v));
}

Flow Interpreter::For(const Node& n) {
  List items = Iterate(Eval(*n.expr), n.line);
  scopes_.emplace_back();
  auto bind = [&](const Value& item) {
    if (n.targets.size() == 1) {
      scopes_.back()[n.targets[0]] = item;
      return;
    }
    if (!item.is_list() || item.as_list().size() != n.targets.size())
      RenderFail(n.line, "cannot unpack loop item into " + std::to_string(n.targets.size()) + " names");
    for (size_t i = 0; i < n.targets.size(); ++i) scopes_.back()[n.targets[i]] = item.as_list()[i];
  };
  if (n.filter) {
    List kept;
    for (const Value& item : items) {
      bind(item);
      if (Eval(*n.filter).Truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  const int64_t len = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < len; ++i) {
    Step(n.line);
    scopes_.back().clear();  // as jinja2: what an iteration sets is gone in the next one
    bind(items[i]);
    scopes_.back()["loop"] = Value(Dict{
        {"index", Value(i + 1)}, {"index0", Value(i)}, {"revindex", Value(len - i)},
        {"revindex0", Value(len - i - 1)}, {"first", Value(i == 0)}, {"last", Value(i == len - 1)},
        {"length", Value(len)}, {"previtem", i > 0 ? items[i - 1] : Value()},
        {"nextitem", i + 1 < len ? items[i + 1] : Value()}});
    if (Run(n.body) == Flow::kBreak) break;
  }
  scopes_.pop_back();
  if (items.empty()) Run(n.else_body);
  return Flow::kNormal;
}

// The items a for loop visits: a list's items, a dict's keys or a string's characters.
List Interpreter::Iterate(const Value& iterable, int line) {
  List items;
  if (iterable.is_list()) {
    Step(line, static_cast<int64_t>(iterable.as_list().size()));
    items = iterable.as_list();
  } else if (iterable.is_dict()) {
    Step(line, static_cast<int64_t>(iterable.as_dict().size()));
    for (const auto& [k, v] : iterable.as_dict()) {
      StepBytes(line, k.size());
      items.push_back(Value(k));
    }
  } else if (iterable.is_string()) {
    CheckList(line, iterable.as_string().size());
    Step(line, static_cast<int64_t>(iterable.as_string().size()));
    for (char c : iterable.as_string()) items.push_back(Value(std::string(1, c)));
  } else if (!iterable.is_undefined() && !iterable.is_none()) {
    RenderFail(line, std::string("cannot iterate over ") + iterable.TypeName());
  }
  return items;
}

Value Interpreter::Lookup(const std::string& name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
    if (auto f = it->find(name); f != it->end()) return f->second;
  return Value();
}

Value Interpreter::Eval(const Expr& e) {
  Deeper deeper(*this, e.line);
  Step(e.line);
  return EvalNode(e);
}

Value Interpreter::EvalNode(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kLiteral: return e.literal;
    case Expr::Kind::kName: return Lookup(e.name);
    case Expr::Kind::kList: {
      List l;
      for (const auto& a : e.args) l.push_back(Eval(*a));
      return NewList(e.line, std::move(l));
    }
    case Expr::Kind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        std::string key = Text(Eval(*e.args[i]), e.line);
        d.emplace_back(std::move(key), Eval(*e.args[i + 1]));
      }
      return NewDict(e.line, std::move(d));
    }
    case Expr::Kind::kAttr: return Get(Eval(*e.args[0]), e.name, e.line);
    case Expr::Kind::kIndex: return Index(Eval(*e.args[0]), Eval(*e.args[1]), e.line);
    case Expr::Kind::kSlice: return Slice(e);
    case Expr::Kind::kCall: return Call(e);
    case Expr::Kind::kFilter: return Filter(e);
    case Expr::Kind::kTest: return Value(Test(e) != e.negated);
    case Expr::Kind::kUnary: return Unary(e);
    case Expr::Kind::kBinary: return Binary(e);
    case Expr::Kind::kCompare: return CompareChain(e);
    case Expr::Kind::kTernary: return Eval(*e.args[1]).Truthy() ? Eval(*e.args[0]) : Eval(*e.args[2]);
  }
  return Value();
}

void Interpreter::Step(int line, int64_t units) {
  steps_left_ -= units;
  if (steps_left_ < 0)
    RenderFail(line, StrFormat("the template ran past its budget of %lld steps (limit max_steps)",
                               static_cast<long long>(limits_.max_steps)));
}

void Interpreter::FailString(int line) const {
  RenderFail(line, StrFormat("a string would exceed %zu bytes (limit max_string_bytes)", limits_.max_string_bytes));
}

void Interpreter::FailList(int line) const {
  RenderFail(line, StrFormat("a list would exceed %zu items (limit max_list_items)", limits_.max_list_items));
}

Value Interpreter::NewString(int line, std::string s) {
  CheckString(line, s.size());
  StepBytes(line, s.size());
  return Value(std::move(s));
}

Value Interpreter::NewList(int line, List l) {
  CheckList(line, l.size());
  Step(line, static_cast<int64_t>(l.size()));
  return CheckDepth(line, Value(std::move(l)));
}

Value Interpreter::NewDict(int line, Dict d) {
  Step(line, static_cast<int64_t>(d.size()));
  return CheckDepth(line, Value(std::move(d)));
}

Value Interpreter::CheckDepth(int line, Value v) {
  if (v.depth() > limits_.max_value_depth)
    RenderFail(line, StrFormat("a value would nest deeper than %d levels of lists and dicts (limit max_value_depth)",
                               limits_.max_value_depth));
  return v;
}

std::string Interpreter::Text(const Value& v, int line) {
  std::string s;
  if (!v.AppendStr(&s, limits_.max_string_bytes)) FailString(line);
  StepBytes(line, s.size());
  return s;
}

bool Interpreter::Same(const Value& v, const Value& w, int line) {
  const bool same = v.Equals(w, &steps_left_);
  Step(line, 0);  // fails if the comparison used up the budget
  return same;
}

Value Interpreter::Get(const Value& obj, const std::string& key, int line) {
  Value v = obj.Get(key, &steps_left_);
  Step(line, 0);
  return v;
}

int64_t Interpreter::Int(const Value& v, int line) { return Unwrap(ToInt(v), line); }

Result<std::string> Render(const Body& body, const Dict& globals, const Limits& limits) {
  try {
    Interpreter interpreter(globals, limits);
    interpreter.Run(body);
    return std::move(interpreter.output());
  } catch (const RenderError& e) {
    return Status::Error(e.message);
  } catch (const std::out_of_range&) {
    return Status::Error("a filter or method is missing an argument");
  } catch (const std::bad_alloc&) {
    return Status::Error("out of memory while rendering the template");
  } catch (const std::length_error&) {
    return Status::Error("out of memory while rendering the template");
  }
}

}  // namespace kvfuse::tokenizer::jinja
