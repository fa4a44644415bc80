#include "tokenizer/jinja/value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kvfuse::tokenizer::jinja {

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

std::string FloatRepr(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (std::isnan(d)) return "nan";
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {  // shortest round-trip, like Python
    std::snprintf(buf, sizeof(buf), "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string PyRepr(const Value& v);

std::string PyReprList(const List& l) {
  std::string s = "[";
  for (size_t i = 0; i < l.size(); ++i) s += (i ? ", " : "") + PyRepr(l[i]);
  return s + "]";
}

std::string PyRepr(const Value& v) {
  if (v.is_string()) {
    const bool dq = v.as_string().find('\'') != std::string::npos && v.as_string().find('"') == std::string::npos;
    const char q = dq ? '"' : '\'';
    std::string s(1, q);
    for (char c : v.as_string()) {
      if (c == q || c == '\\') s += '\\';
      if (c == '\n') s += "\\n";
      else s += c;
    }
    return s + q;
  }
  if (v.is_list()) return PyReprList(v.as_list());
  if (v.is_dict()) {
    std::string s = "{";
    bool first = true;
    for (const auto& [k, x] : v.as_dict()) {
      s += (first ? "" : ", ") + PyRepr(Value(k)) + ": " + PyRepr(x);
      first = false;
    }
    return s + "}";
  }
  return v.Str();
}

}  // namespace

std::string Value::Str() const {
  if (is_undefined()) return "";
  if (is_none()) return "None";
  if (is_bool()) return as_bool() ? "True" : "False";
  if (is_int()) return std::to_string(as_int());
  if (is_float()) return FloatRepr(std::get<double>(v_));
  if (is_string()) return as_string();
  return PyRepr(*this);
}

std::string Value::ToJson(int indent, int depth) const {
  const std::string nl = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent) * (depth + 1), ' ') : "";
  const std::string close = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent) * depth, ' ') : "";
  const std::string item_sep = indent >= 0 ? "," : ", ";
  if (is_undefined() || is_none()) return "null";
  if (is_bool()) return as_bool() ? "true" : "false";
  if (is_int() || is_float()) return Str();
  if (is_string()) return JsonString(as_string());
  if (is_list()) {
    if (as_list().empty()) return "[]";
    std::string s = "[";
    for (size_t i = 0; i < as_list().size(); ++i) s += (i ? item_sep : "") + nl + as_list()[i].ToJson(indent, depth + 1);
    return s + close + "]";
  }
  if (as_dict().empty()) return "{}";
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : as_dict()) {
    s += (first ? "" : item_sep) + nl + JsonString(k) + ": " + v.ToJson(indent, depth + 1);
    first = false;
  }
  return s + close + "}";
}

bool Value::Equals(const Value& o) const {
  if ((is_number() || is_bool()) && (o.is_number() || o.is_bool())) return as_number() == o.as_number();
  if (is_string() && o.is_string()) return as_string() == o.as_string();
  if (is_none() && o.is_none()) return true;
  if (is_undefined() && o.is_undefined()) return true;
  if (is_list() && o.is_list()) {
    if (as_list().size() != o.as_list().size()) return false;
    for (size_t i = 0; i < as_list().size(); ++i)
      if (!as_list()[i].Equals(o.as_list()[i])) return false;
    return true;
  }
  if (is_dict() && o.is_dict()) {
    if (as_dict().size() != o.as_dict().size()) return false;
    for (const auto& [k, v] : as_dict())
      if (!o.Get(k).Equals(v)) return false;
    return true;
  }
  return false;
}

Value Value::Get(const std::string& key) const {
  if (!is_dict()) return Value();
  for (const auto& [k, v] : as_dict())
    if (k == key) return v;
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
