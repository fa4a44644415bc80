#include "tokenizer/jinja/value.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string_view>
#include <vector>

#include "tokenizer/jinja/limits.h"

namespace kvfuse::tokenizer::jinja {

Value::Value(List l) : v_(std::make_shared<const List>(std::move(l))) {
  depth_ = 1;
  for (const Value& x : as_list()) Measure(x);
}

Value::Value(Dict d) : v_(std::make_shared<Dict>(std::move(d))) {
  depth_ = 1;
  for (const auto& [k, x] : as_dict()) Measure(x);
}

Value Value::MakeNamespace(Dict d) {
  Value v(std::move(d));
  v.is_namespace_ = v.holds_namespace_ = true;
  return v;
}

void Value::Measure(const Value& child) {
  depth_ = std::max(depth_, std::min(child.depth_, INT_MAX - 1) + 1);
  holds_namespace_ = holds_namespace_ || child.holds_namespace_;
}

void Value::SetAttr(const std::string& key, Value v) const {
  Dict& d = *std::get<DictPtr>(v_);
  auto it = std::find_if(d.begin(), d.end(), [&](const auto& kv) { return kv.first == key; });
  if (it != d.end()) it->second = std::move(v);
  else d.emplace_back(key, std::move(v));
}

bool Value::Truthy() const {
  if (is_undefined() || is_none()) return false;
  if (is_bool()) return as_bool();
  if (is_int()) return as_int() != 0;
  if (is_float()) return std::get<double>(v_) != 0.0;
  if (is_string()) return !as_string().empty();
  if (is_list()) return !as_list().empty();
  return !as_dict().empty();
}

namespace {

// Python's repr of a float: the shortest digits that read back as it, in positional form for
// decimal exponents -4..15 ("1500.0", "0.0001") and scientific otherwise ("1e+16", "1e-05").
std::string FloatRepr(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (std::isnan(d)) return "nan";
  char buf[40];
  int digits_after_point = 0;  // of the shortest scientific form
  for (; digits_after_point < 17; ++digits_after_point) {
    std::snprintf(buf, sizeof(buf), "%.*e", digits_after_point, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  const int exponent = std::atoi(std::strchr(buf, 'e') + 1);
  if (exponent < -4 || exponent >= 16) return buf;
  std::snprintf(buf, sizeof(buf), "%.*f", std::max(0, digits_after_point - exponent), d);
  std::string s = buf;
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

std::string ScalarStr(const Value& v) {
  if (v.is_undefined()) return "";
  if (v.is_none()) return "None";
  if (v.is_bool()) return v.as_bool() ? "True" : "False";
  if (v.is_int()) return std::to_string(v.as_int());
  return FloatRepr(v.as_number());
}

// Appends to a string that must stay within max bytes; once a write would pass it, the
// writer refuses that write and every later one. Values are trees whose shared parts can
// repeat without bound, so every printer stops as soon as the writer does.
class Writer {
 public:
  Writer(std::string* out, size_t max) : out_(out), max_(max) {}
  bool ok() const { return ok_; }
  bool Put(std::string_view s) {
    if (!ok_ || out_->size() > max_ || s.size() > max_ - out_->size()) return ok_ = false;
    out_->append(s);
    return true;
  }
  bool Put(char c) { return Put(std::string_view(&c, 1)); }
  void Fail() { ok_ = false; }
  bool PutRepeated(char c, size_t n) {
    if (!ok_ || out_->size() > max_ || n > max_ - out_->size()) return ok_ = false;
    out_->append(n, c);
    return true;
  }

 private:
  std::string* out_;
  size_t max_;
  bool ok_ = true;
};

void JsonString(const std::string& s, Writer& w) {
  w.Put('"');
  size_t plain = 0;  // start of the run of characters that need no escape
  for (size_t i = 0; i < s.size() && w.ok(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    w.Put(std::string_view(s).substr(plain, i - plain));
    plain = i + 1;
    switch (c) {
      case '"': w.Put("\\\""); break;
      case '\\': w.Put("\\\\"); break;
      case '\n': w.Put("\\n"); break;
      case '\r': w.Put("\\r"); break;
      case '\t': w.Put("\\t"); break;
      case '\b': w.Put("\\b"); break;
      case '\f': w.Put("\\f"); break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        w.Put(buf);
      }
    }
  }
  w.Put(std::string_view(s).substr(std::min(plain, s.size())));
  w.Put('"');
}

void PyRepr(const Value& v, Writer& w);

void PyReprString(const std::string& s, Writer& w) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  w.Put(q);
  for (size_t i = 0; i < s.size() && w.ok(); ++i) {
    const char c = s[i];
    if (c == q || c == '\\') w.Put('\\');
    if (c == '\n') w.Put("\\n");
    else w.Put(c);
  }
  w.Put(q);
}

void PyRepr(const Value& v, Writer& w) {
  if (v.is_string()) return PyReprString(v.as_string(), w);
  if (v.is_list()) {
    w.Put('[');
    for (size_t i = 0; i < v.as_list().size() && w.ok(); ++i) {
      if (i) w.Put(", ");
      PyRepr(v.as_list()[i], w);
    }
    w.Put(']');
    return;
  }
  if (v.is_dict()) {
    w.Put('{');
    for (size_t i = 0; i < v.as_dict().size() && w.ok(); ++i) {
      if (i) w.Put(", ");
      PyReprString(v.as_dict()[i].first, w);
      w.Put(": ");
      PyRepr(v.as_dict()[i].second, w);
    }
    w.Put('}');
    return;
  }
  w.Put(ScalarStr(v));
}

void Json(const Value& v, Writer& w, const Value::JsonStyle& style, size_t depth);

// The line break and indentation before an item at `depth` (nothing without indent).
void JsonBreak(Writer& w, int64_t indent, size_t depth) {
  if (indent < 0) return;
  w.Put('\n');
  const size_t n = static_cast<size_t>(indent);
  if (n != 0 && depth > SIZE_MAX / n) w.Fail();  // indent * depth would not even fit in size_t
  else w.PutRepeated(' ', n * depth);
}

void JsonContainer(const Value& v, Writer& w, const Value::JsonStyle& style, size_t depth) {
  const bool list = v.is_list();
  const size_t size = list ? v.as_list().size() : v.as_dict().size();
  std::vector<size_t> order(size);
  std::iota(order.begin(), order.end(), 0);
  if (!list && style.sort_keys)
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return v.as_dict()[a].first < v.as_dict()[b].first; });
  const std::string& item = style.item_separator;
  const std::string& key = style.key_separator;
  w.Put(list ? '[' : '{');
  for (size_t i = 0; i < size && w.ok(); ++i) {
    if (i) w.Put(!item.empty() ? item.c_str() : style.indent >= 0 ? "," : ", ");
    JsonBreak(w, style.indent, depth + 1);
    if (list) {
      Json(v.as_list()[order[i]], w, style, depth + 1);
    } else {
      JsonString(v.as_dict()[order[i]].first, w);
      w.Put(!key.empty() ? key.c_str() : ": ");
      Json(v.as_dict()[order[i]].second, w, style, depth + 1);
    }
  }
  if (size) JsonBreak(w, style.indent, depth);
  w.Put(list ? ']' : '}');
}

void Json(const Value& v, Writer& w, const Value::JsonStyle& style, size_t depth) {
  if (v.is_undefined() || v.is_none()) w.Put("null");
  else if (v.is_bool()) w.Put(v.as_bool() ? "true" : "false");
  else if (v.is_int() || v.is_float()) w.Put(ScalarStr(v));
  else if (v.is_string()) JsonString(v.as_string(), w);
  else JsonContainer(v, w, style, depth);
}

}  // namespace

bool Value::AppendStr(std::string* out, size_t max_bytes) const {
  Writer w(out, max_bytes);
  if (is_string()) w.Put(as_string());
  else if (is_list() || is_dict()) PyRepr(*this, w);
  else w.Put(ScalarStr(*this));
  return w.ok();
}

bool Value::AppendJson(std::string* out, size_t max_bytes, const JsonStyle& style) const {
  Writer w(out, max_bytes);
  Json(*this, w, style, 0);
  return w.ok();
}

std::string Value::Str() const {
  std::string s;
  AppendStr(&s, SIZE_MAX);
  return s;
}

std::string Value::ToJson(int indent) const {
  std::string s;
  AppendJson(&s, SIZE_MAX, indent);
  return s;
}

namespace {

// The cost, for a budget, of comparing two strings (== looks at the bytes of equal sizes only).
int64_t CompareCost(const std::string& a, const std::string& b) {
  return 1 + (a.size() == b.size() ? static_cast<int64_t>(a.size() / Limits::kBytesPerStep) : 0);
}

}  // namespace

bool Value::Equals(const Value& o, int64_t* budget) const {
  if (budget && --*budget < 0) return false;
  if ((is_number() || is_bool()) && (o.is_number() || o.is_bool())) return as_number() == o.as_number();
  if (is_string() && o.is_string()) {
    if (budget && (*budget -= CompareCost(as_string(), o.as_string())) < 0) return false;
    return as_string() == o.as_string();
  }
  if (is_none() && o.is_none()) return true;
  if (is_undefined() && o.is_undefined()) return true;
  if (is_list() && o.is_list()) {
    if (std::get<ListPtr>(v_) == std::get<ListPtr>(o.v_)) return true;  // Python compares identity first too
    if (as_list().size() != o.as_list().size()) return false;
    for (size_t i = 0; i < as_list().size(); ++i)
      if (!as_list()[i].Equals(o.as_list()[i], budget)) return false;
    return true;
  }
  if (is_dict() && o.is_dict()) {
    if (std::get<DictPtr>(v_) == std::get<DictPtr>(o.v_)) return true;
    if (as_dict().size() != o.as_dict().size()) return false;
    for (const auto& [k, v] : as_dict())
      if (!o.Get(k, budget).Equals(v, budget)) return false;
    return !budget || *budget >= 0;
  }
  return false;
}

Value Value::Get(const std::string& key, int64_t* budget) const {
  if (!is_dict()) return Value();
  for (const auto& [k, v] : as_dict()) {
    if (budget && (*budget -= CompareCost(k, key)) < 0) return Value();
    if (k == key) return v;
  }
  return Value();
}

const char* Value::TypeName() const {
  if (is_undefined()) return "undefined";
  if (is_none()) return "none";
  if (is_bool()) return "bool";
  if (is_int()) return "int";
  if (is_float()) return "float";
  if (is_string()) return "string";
  if (is_list()) return "list";
  return "dict";
}

}  // namespace kvfuse::tokenizer::jinja
