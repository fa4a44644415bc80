// Filters of the interpreter (see interpreter_impl.h).
#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "tokenizer/jinja/interpreter_impl.h"
#include "tokenizer/jinja/text.h"

namespace kvfuse::tokenizer::jinja {

Value Interpreter::Filter(const Expr& e) {
  const Value v = Eval(*e.args[0]);
  if (auto r = TextFilter(e.name, v, e)) return *r;
  if (auto r = SequenceFilter(e.name, v, e)) return *r;
  RenderFail(e.line, "unsupported filter '" + e.name + "'");
}

// Hugging Face's tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False),
// which is json.dumps. An argument it does not take, or ensure_ascii=True, is an error rather
// than a text that differs from what the model was trained on.
Value Interpreter::ToJson(const Value& v, const Expr& e) {
  const int line = e.line;
  for (const auto& [name, arg] : e.kwargs)
    if (name != "indent" && name != "separators" && name != "sort_keys" && name != "ensure_ascii")
      RenderFail(line, "tojson takes no argument '" + name + "'");
  // Positional in Hugging Face's order: ensure_ascii, indent, separators, sort_keys.
  if (e.args.size() > 5) RenderFail(line, "tojson takes at most four arguments");
  if (Kwarg(e, "ensure_ascii", 1, Value(false)).Truthy()) RenderFail(line, "tojson(ensure_ascii=true) is not supported");
  Value::JsonStyle style;
  const Value indent = Kwarg(e, "indent", 2);
  style.indent = indent.is_int() ? std::max<int64_t>(0, indent.as_int()) : -1;  // negative: breaks only
  style.sort_keys = Kwarg(e, "sort_keys", 4, Value(false)).Truthy();
  const Value separators = Kwarg(e, "separators", 3);
  if (!separators.is_undefined() && !separators.is_none()) {
    const bool pair = separators.is_list() && separators.as_list().size() == 2 && separators.as_list()[0].is_string() &&
                      separators.as_list()[1].is_string();
    if (!pair) RenderFail(line, "tojson's separators must be two strings (item, key)");
    style.item_separator = separators.as_list()[0].as_string();
    style.key_separator = separators.as_list()[1].as_string();
    if (style.item_separator.empty() || style.key_separator.empty())
      RenderFail(line, "tojson's separators must not be empty");
  }
  std::string s;
  if (!v.AppendJson(&s, limits_.max_string_bytes, style)) FailString(line);
  return NewString(line, std::move(s));
}

// Filters that read their input as text or a number.
std::optional<Value> Interpreter::TextFilter(const std::string& f, const Value& v, const Expr& e) {
  const int line = e.line;
  if (f == "trim") return NewString(line, text::Strip(Text(v, line), "", true, true));
  if (f == "string") return NewString(line, Text(v, line));
  if (f == "upper") return NewString(line, text::Upper(Text(v, line)));
  if (f == "lower") return NewString(line, text::Lower(Text(v, line)));
  if (f == "title") return NewString(line, text::Title(Text(v, line)));
  if (f == "capitalize") return NewString(line, text::Capitalize(Text(v, line)));
  if (f == "replace") return Replace(Text(v, line), Text(Kwarg(e, "old", 1), line), Text(Kwarg(e, "new", 2), line), line);
  if (f == "tojson") return ToJson(v, e);
  if (f == "int") {
    if (!v.is_string()) return Value(Int(v, line));
    errno = 0;
    const long long i = std::strtoll(v.as_string().c_str(), nullptr, 10);
    if (errno == ERANGE) RenderFail(line, "int of '" + v.as_string().substr(0, 40) + "' does not fit in 64 bits");
    return Value(static_cast<int64_t>(i));
  }
  if (f == "float") return Value(v.is_string() ? std::strtod(v.as_string().c_str(), nullptr) : v.as_number());
  if (f == "safe") return v;
  if (f == "default" || f == "d") {
    const bool boolean = Kwarg(e, "boolean", 2, Value(false)).Truthy();
    return (v.is_undefined() || (boolean && !v.Truthy())) ? Kwarg(e, "default_value", 1, Value("")) : v;
  }
  return std::nullopt;
}

// Filters over lists, dicts and strings as sequences.
std::optional<Value> Interpreter::SequenceFilter(const std::string& f, const Value& v, const Expr& e) {
  if (f == "length" || f == "count") {
    if (v.is_list()) return Value(static_cast<int64_t>(v.as_list().size()));
    if (v.is_dict()) return Value(static_cast<int64_t>(v.as_dict().size()));
    if (v.is_string()) {
      StepBytes(e.line, v.as_string().size());
      return Value(static_cast<int64_t>(text::CodePointOffsets(v.as_string()).size()) - 1);
    }
    RenderFail(e.line, std::string("length of ") + v.TypeName());
  }
  if (f == "first" || f == "last") {
    if (v.is_list()) return v.as_list().empty() ? Value() : (f == "first" ? v.as_list().front() : v.as_list().back());
    if (v.is_string()) {
      if (v.as_string().empty()) return Value();
      StepBytes(e.line, v.as_string().size());
      const std::vector<size_t> at = text::CodePointOffsets(v.as_string());
      const size_t k = f == "first" ? 0 : at.size() - 2;
      return Value(v.as_string().substr(at[k], at[k + 1] - at[k]));
    }
    RenderFail(e.line, f + " of " + v.TypeName());
  }
  if (f == "join") return Join(v, e);
  if (f == "list") return ToList(v, e.line);
  if (f == "reverse") {
    if (v.is_string()) {
      StepBytes(e.line, v.as_string().size());
      return NewString(e.line, text::ReverseCodePoints(v.as_string()));
    }
    if (!v.is_list()) RenderFail(e.line, std::string("reverse of ") + v.TypeName());
    return NewList(e.line, List(v.as_list().rbegin(), v.as_list().rend()));
  }
  if (f == "items") return Method(v, "items", e);
  if (f == "selectattr" || f == "rejectattr") return SelectAttr(f, v, e);
  if (f == "map") return MapAttr(v, e);
  return std::nullopt;
}

Value Interpreter::Join(const Value& v, const Expr& e) {
  if (!v.is_list()) RenderFail(e.line, std::string("join of ") + v.TypeName());
  const std::string sep = Text(Kwarg(e, "d", 1, Value("")), e.line);
  const List& items = v.as_list();
  Step(e.line, static_cast<int64_t>(items.size()));
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) {
      if (sep.size() > limits_.max_string_bytes - std::min(s.size(), limits_.max_string_bytes)) FailString(e.line);
      s += sep;
    }
    if (!items[i].AppendStr(&s, limits_.max_string_bytes)) FailString(e.line);
  }
  return NewString(e.line, std::move(s));
}

Value Interpreter::ToList(const Value& v, int line) {
  if (v.is_list()) return v;
  List l;
  if (v.is_string()) {
    CheckList(line, v.as_string().size());
    const std::vector<size_t> at = text::CodePointOffsets(v.as_string());
    for (size_t k = 0; k + 1 < at.size(); ++k) l.push_back(Value(v.as_string().substr(at[k], at[k + 1] - at[k])));
  } else if (v.is_dict()) {
    for (const auto& [k, x] : v.as_dict()) {
      StepBytes(line, k.size());
      l.push_back(Value(k));
    }
  }
  return NewList(line, std::move(l));
}

// selectattr / rejectattr(attr[, test[, operand]]): the items whose attribute passes (or fails) the test.
Value Interpreter::SelectAttr(const std::string& f, const Value& v, const Expr& e) {
  if (!v.is_list()) RenderFail(e.line, f + " of " + v.TypeName());
  const std::string attr = Text(Kwarg(e, "attr", 1), e.line);
  const std::string test = e.args.size() > 2 ? Text(Eval(*e.args[2]), e.line) : "";
  const Value operand = e.args.size() > 3 ? Eval(*e.args[3]) : Value();
  Step(e.line, static_cast<int64_t>(v.as_list().size()));
  List kept;
  for (const Value& item : v.as_list()) {
    const Value x = Get(item, attr, e.line);
    bool ok;
    if (test.empty()) ok = x.Truthy();
    else if (test == "equalto" || test == "eq" || test == "==") ok = Same(x, operand, e.line);
    else if (test == "defined") ok = !x.is_undefined();
    else if (test == "undefined") ok = x.is_undefined();
    else if (test == "none") ok = x.is_none();
    else RenderFail(e.line, "unsupported test '" + test + "' in " + f);
    if (ok == (f == "selectattr")) kept.push_back(item);
  }
  return NewList(e.line, std::move(kept));
}

Value Interpreter::MapAttr(const Value& v, const Expr& e) {
  if (!v.is_list()) RenderFail(e.line, std::string("map of ") + v.TypeName());
  const Value attr = Kwarg(e, "attribute", 99);
  if (attr.is_undefined()) RenderFail(e.line, "map() is supported with attribute= only");
  const std::string key = Text(attr, e.line);
  List l;
  for (const Value& item : v.as_list()) l.push_back(Get(item, key, e.line));
  return NewList(e.line, std::move(l));
}

}  // namespace kvfuse::tokenizer::jinja
