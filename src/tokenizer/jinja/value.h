// Values of the Jinja subset used by chat templates, with Python semantics for truth,
// equality, printing and JSON (what Hugging Face's jinja2-based renderer produces).
//
// Strings, lists and dicts are shared, so copying a Value is O(1) whatever its size: the
// interpreter only pays (and charges its step budget) where it builds a new value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kvfuse::tokenizer::jinja {

class Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order, as in Python

class Value {
 public:
  struct Undefined {};
  struct None {};

  Value() : v_(Undefined{}) {}
  static Value MakeNone() { return Value(None{}); }
  // namespace(...): the one mutable value ({% set ns.attr = x %}).
  static Value MakeNamespace(Dict d);
  Value(bool b) : v_(b) {}
  Value(int64_t i) : v_(i) {}
  Value(int i) : v_(static_cast<int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::make_shared<const std::string>(std::move(s))) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(List l);
  Value(Dict d);

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_none() const { return std::holds_alternative<None>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return std::holds_alternative<StringPtr>(v_); }
  bool is_list() const { return std::holds_alternative<ListPtr>(v_); }
  bool is_dict() const { return std::holds_alternative<DictPtr>(v_); }
  bool is_namespace() const { return is_namespace_; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_number() const { return is_int() ? static_cast<double>(as_int()) : is_bool() ? as_bool() : std::get<double>(v_); }
  const std::string& as_string() const { return *std::get<StringPtr>(v_); }
  const List& as_list() const { return *std::get<ListPtr>(v_); }
  const Dict& as_dict() const { return *std::get<DictPtr>(v_); }

  // Levels of lists and dicts: 0 for a scalar, 1 for [1, 2], 2 for [[1]]. Computed when
  // the value is built; it can only be low for a value that holds a namespace whose
  // attributes were set later (the interpreter keeps namespaces out of namespaces, which
  // bounds that error).
  int depth() const { return depth_; }
  // True for a namespace and for any list or dict that contains one.
  bool holds_namespace() const { return holds_namespace_; }
  // {% set ns.key = v %} on a namespace: replaces the entry or appends it.
  void SetAttr(const std::string& key, Value v) const;

  // Python truthiness; undefined is false.
  bool Truthy() const;
  // Appends str(value) as Jinja prints it (undefined and none print as "" and "None").
  // Returns false, leaving a partial text, as soon as *out would pass max_bytes.
  bool AppendStr(std::string* out, size_t max_bytes) const;
  // json.dumps's layout: indent < 0 is one line; empty separators are json.dumps's defaults
  // (", " on one line, "," with an indent; ": ").
  struct JsonStyle {
    int64_t indent = -1;
    std::string item_separator, key_separator;
    bool sort_keys = false;
  };
  // Appends json.dumps(value, ensure_ascii=False, ...style), with the same max_bytes contract
  // as AppendStr.
  bool AppendJson(std::string* out, size_t max_bytes, const JsonStyle& style) const;
  bool AppendJson(std::string* out, size_t max_bytes, int64_t indent = -1) const {
    JsonStyle style;
    style.indent = indent;
    return AppendJson(out, max_bytes, style);
  }
  // Unbounded conveniences for scalars and small values.
  std::string Str() const;
  std::string ToJson(int indent = -1) const;
  // Python ==. With a budget, each value compared costs one unit (plus one per
  // Limits::kBytesPerStep bytes of text compared) and the answer is false once *budget is
  // below zero: the caller reports that as an exceeded limit.
  bool Equals(const Value& other, int64_t* budget = nullptr) const;
  // The entry for `key` of a dict, or undefined. With a budget, charged like Equals per
  // entry scanned.
  Value Get(const std::string& key, int64_t* budget = nullptr) const;
  const char* TypeName() const;

 private:
  using StringPtr = std::shared_ptr<const std::string>;
  using ListPtr = std::shared_ptr<const List>;
  using DictPtr = std::shared_ptr<Dict>;  // mutable for namespaces only (SetAttr)

  explicit Value(None n) : v_(n) {}
  void Measure(const Value& child);

  std::variant<Undefined, None, bool, int64_t, double, StringPtr, ListPtr, DictPtr> v_;
  int depth_ = 0;
  bool is_namespace_ = false;
  bool holds_namespace_ = false;
};

}  // namespace kvfuse::tokenizer::jinja
