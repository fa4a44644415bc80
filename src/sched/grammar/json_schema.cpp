#include "sched/grammar/json_schema.h"

#include <cctype>
#include <map>
#include <set>

namespace kvfuse::sched::grammar {

using nlohmann::ordered_json;

namespace {

// The JSON rules every schema grammar shares. Whitespace between tokens is bounded so that
// a model cannot stall in it.
constexpr const char* kJsonRules = R"(ws ::= | " " | "\n" [ \t]{0,8}
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ws ":" ws value ( "," ws string ws ":" ws value )* )? ws "}"
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
char ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
string ::= "\"" char* "\""
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
number ::= integer ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?
boolean ::= "true" | "false"
null ::= "null"
)";

const std::set<std::string>& Annotations() {
  static const std::set<std::string> names = {"title", "description", "default", "examples", "$schema",
                                              "$id", "$comment", "strict", "$defs", "definitions"};
  return names;
}

// Keywords that imply a type when a schema gives none.
const std::vector<std::pair<const char*, std::vector<const char*>>> kImpliedTypes = {
    {"object", {"properties", "required", "additionalProperties"}},
    {"array", {"items", "minItems", "maxItems"}},
    {"string", {"minLength", "maxLength"}},
};

// Whether JSON value `v` has `type` (a type name or a list of them).
bool HasType(const ordered_json& v, const ordered_json& type) {
  if (type.is_array()) {
    for (const ordered_json& t : type)
      if (HasType(v, t)) return true;
    return false;
  }
  const std::string t = type.is_string() ? type.get<std::string>() : "";
  return (t == "object" && v.is_object()) || (t == "array" && v.is_array()) || (t == "string" && v.is_string()) ||
         (t == "integer" && v.is_number_integer()) || (t == "number" && v.is_number()) ||
         (t == "boolean" && v.is_boolean()) || (t == "null" && v.is_null());
}

constexpr size_t kMaxRules = 4096;
constexpr int kMaxDepth = 64;

struct SchemaError {
  std::string message;
};

// A GBNF string literal of `text` (JSON text of a const or enum value, or a property name).
std::string Literal(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

class Converter {
 public:
  Converter(const ordered_json& root, std::string start) : root_(root), start_(std::move(start)) {}

  // The schema's rules, its start rule named start_ (the shared JSON rules not included).
  std::string Convert() {
    Rule(root_, start_);
    std::string out;
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
  }

 private:
  // A rule for `schema`; `name` when given, else a fresh one. Returns the rule's name.
  std::string Rule(const ordered_json& schema, const std::string& name = "") {
    const std::string rule = name.empty() ? Fresh() : name;
    if (rules_.size() >= kMaxRules) throw SchemaError{"the schema needs more than " + std::to_string(kMaxRules) + " rules"};
    if (++depth_ > kMaxDepth) throw SchemaError{"the schema nests (or chains $refs) deeper than " + std::to_string(kMaxDepth) + " levels"};
    rules_[rule] = "";  // reserved before the body, so recursive $refs see it
    rules_[rule] = Body(schema);
    --depth_;
    return rule;
  }

  std::string Body(const ordered_json& schema) {
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) throw SchemaError{"the schema false matches nothing"};
      return "value";
    }
    if (!schema.is_object()) throw SchemaError{"a schema must be an object or a boolean"};
    if (schema.contains("$ref")) {
      Check(schema, {"$ref"});
      return Ref(schema);
    }
    if (schema.contains("const")) {
      Check(schema, {"const", "type"});
      return Enum(ordered_json::array({schema["const"]}), schema);
    }
    if (schema.contains("enum")) {
      Check(schema, {"enum", "type"});
      return Enum(schema["enum"], schema);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!schema.contains(key)) continue;
      Check(schema, {key});
      return Alternatives(schema[key], key);
    }
    if (!schema.contains("type")) {  // the type its keywords imply, else any value
      for (const auto& [type, keys] : kImpliedTypes)
        for (const char* key : keys)
          if (schema.contains(key)) {
            ordered_json typed = schema;
            typed["type"] = type;
            return Body(typed);
          }
      Check(schema, {});
      return "value";
    }
    const ordered_json& type = schema["type"];
    if (type.is_array()) {
      if (type.size() > 7) throw SchemaError{"type lists more than the 7 JSON types"};  // before a pairwise check
      for (size_t i = 0; i < type.size(); ++i)
        for (size_t j = i + 1; j < type.size(); ++j)
          if (type[i] == type[j]) throw SchemaError{"type lists " + type[i].dump() + " twice"};
      std::string alts;
      for (const ordered_json& t : type) {
        ordered_json one = schema;
        one["type"] = t;
        for (const auto& [other, keys] : kImpliedTypes)  // each type keeps its own keywords
          if (t != other)
            for (const char* key : keys) one.erase(key);
        alts += (alts.empty() ? "" : " | ") + Rule(one);
      }
      if (alts.empty()) throw SchemaError{"an empty list of types"};
      return alts;
    }
    if (!type.is_string()) throw SchemaError{"type must be a string or a list of strings"};
    const std::string t = type.get<std::string>();
    if (t == "object") return Object(schema);
    if (t == "array") return Array(schema);
    if (t == "string") return String(schema);
    Check(schema, {"type"});
    if (t == "integer" || t == "number" || t == "boolean" || t == "null") return t;
    throw SchemaError{"unknown type '" + t + "'"};
  }

  // Every keyword of `schema` is an annotation or one of `allowed`.
  static void Check(const ordered_json& schema, const std::set<std::string>& allowed) {
    for (const auto& [key, value] : schema.items()) {
      (void)value;
      if (Annotations().count(key) || allowed.count(key)) continue;
      if (key == "properties" || key == "required" || key == "additionalProperties" || key == "items" ||
          key == "minItems" || key == "maxItems" || key == "minLength" || key == "maxLength")
        throw SchemaError{"keyword '" + key + "' does not apply here (check the schema's type)"};
      throw SchemaError{"keyword '" + key + "' is not supported"};
    }
  }

  std::string Ref(const ordered_json& schema) {
    const std::string ref = schema["$ref"].get<std::string>();
    for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
      const std::string p = prefix;
      if (ref.rfind(p, 0) != 0) continue;
      const std::string def = ref.substr(p.size());
      const auto defs = root_.find(p.substr(2, p.size() - 3));
      if (defs == root_.end() || !defs->is_object() || !defs->contains(def))
        throw SchemaError{"$ref '" + ref + "' names no definition"};
      const auto [known, added] = ref_rules_.emplace(ref, start_ + "-def" + std::to_string(ref_rules_.size()));
      if (added) Rule((*defs)[def], known->second);
      return known->second;
    }
    if (ref == "#") return start_;
    throw SchemaError{"$ref '" + ref + "' is not supported (only #, #/$defs/NAME and #/definitions/NAME)"};
  }

  // The values (of enum, or const's one) that also have the schema's type, if it gives one.
  std::string Enum(const ordered_json& values, const ordered_json& schema) {
    if (!values.is_array() || values.empty()) throw SchemaError{"enum must be a non-empty list"};
    std::string alts;
    for (const ordered_json& v : values)
      if (!schema.contains("type") || HasType(v, schema["type"])) alts += (alts.empty() ? "" : " | ") + Literal(v.dump());
    if (alts.empty()) throw SchemaError{"no value of enum or const has the schema's type"};
    return alts;
  }

  std::string Alternatives(const ordered_json& list, const char* key) {
    if (!list.is_array() || list.empty()) throw SchemaError{std::string(key) + " must be a non-empty list"};
    std::string alts;
    for (const ordered_json& s : list) alts += (alts.empty() ? "" : " | ") + Rule(s);
    return alts;
  }

  std::string Object(const ordered_json& schema) {
    Check(schema, {"type", "properties", "required", "additionalProperties"});
    const ordered_json props = schema.value("properties", ordered_json::object());
    // JSON Schema's default is true: any extra property. With properties given, only they are
    // written (a subset of what validates).
    const ordered_json extra = schema.value("additionalProperties", ordered_json(true));
    if (!props.is_object()) throw SchemaError{"properties must be an object"};
    if (props.empty() && !(extra.is_boolean() && !extra.get<bool>()) && schema.value("required", ordered_json::array()).empty()) {
      const std::string v = Rule(extra);
      return "\"{\" ws ( string ws \":\" ws " + v + " ( \",\" ws string ws \":\" ws " + v + " )* )? ws \"}\"";
    }
    if (!extra.is_boolean()) throw SchemaError{"additionalProperties beside properties must be true or false"};
    std::set<std::string> required;
    for (const ordered_json& r : schema.value("required", ordered_json::array())) {
      if (!r.is_string() || !props.contains(r.get<std::string>()))
        throw SchemaError{"required names a property that is not in properties: " + r.dump()};
      required.insert(r.get<std::string>());
    }
    std::vector<std::string> req, opt;  // "\"name\"" ws ":" ws rule, in the schema's order
    for (const auto& [key, sub] : props.items())
      (required.count(key) ? req : opt).push_back(Literal(ordered_json(key).dump()) + " ws \":\" ws " + Rule(sub));
    std::string body = "\"{\" ws ";
    for (size_t i = 0; i < req.size(); ++i) body += (i ? "\",\" ws " : "") + req[i] + " ";
    if (!opt.empty()) body += Optionals(opt, !req.empty()) + " ";
    return body + "ws \"}\"";
  }

  // Optional properties in order, any subset: rest_i ::= ( "," ws o_i )? rest_(i+1); when
  // nothing precedes them, the first present one has no comma: first_i ::= o_i rest_(i+1) |
  // first_(i+1).
  std::string Optionals(const std::vector<std::string>& opt, bool after_required) {
    std::string rest_next, first_next;
    for (size_t i = opt.size(); i-- > 0;) {
      const std::string rest = Fresh(), first = Fresh();
      rules_[rest] = "( \",\" ws " + opt[i] + " )? " + rest_next;
      rules_[first] = opt[i] + " " + rest_next + (first_next.empty() ? "" : " | " + first_next);
      rest_next = rest;
      first_next = first;
    }
    return after_required ? rest_next : "( " + first_next + " )?";
  }

  std::string Array(const ordered_json& schema) {
    Check(schema, {"type", "items", "minItems", "maxItems"});
    const std::string item = Rule(schema.value("items", ordered_json(true)));
    const int64_t min = schema.value("minItems", int64_t{0}), max = schema.value("maxItems", int64_t{-1});
    if (min < 0 || min > 1000 || max > 1000 || (max >= 0 && max < min)) throw SchemaError{"minItems/maxItems out of range (0..1000)"};
    if (max == 0) return "\"[\" ws \"]\"";
    const std::string more = "( \",\" ws " + item + " ws )" +
                             (max < 0 ? "{" + std::to_string(std::max<int64_t>(min - 1, 0)) + ",}"
                                      : "{" + std::to_string(std::max<int64_t>(min - 1, 0)) + "," + std::to_string(max - 1) + "}");
    const std::string items = item + " ws " + more;
    return "\"[\" ws " + (min == 0 ? "( " + items + " )?" : items) + " \"]\"";
  }

  std::string String(const ordered_json& schema) {
    Check(schema, {"type", "minLength", "maxLength"});
    const int64_t min = schema.value("minLength", int64_t{0}), max = schema.value("maxLength", int64_t{-1});
    if (min < 0 || min > 1000 || max > 1000 || (max >= 0 && max < min)) throw SchemaError{"minLength/maxLength out of range (0..1000)"};
    if (min == 0 && max < 0) return "string";
    return "\"\\\"\" char{" + std::to_string(min) + "," + (max < 0 ? "" : std::to_string(max)) + "} \"\\\"\"";
  }

  std::string Fresh() { return start_ + "-" + std::to_string(next_++); }

  const ordered_json& root_;
  const std::string start_;
  std::map<std::string, std::string> rules_;
  std::map<std::string, std::string> ref_rules_;  // $ref -> its rule
  int depth_ = 0;
  int next_ = 0;
};

}  // namespace

util::Result<std::string> JsonSchemaRules(const ordered_json& schema, const std::string& rule) {
  try {
    return Converter(schema, rule).Convert();
  } catch (const SchemaError& e) {
    return util::Status::InvalidArgument("json_schema: " + e.message);
  } catch (const nlohmann::json::exception& e) {
    return util::Status::InvalidArgument(std::string("json_schema: malformed: ") + e.what());
  }
}

util::Result<std::string> JsonSchemaToGbnf(const ordered_json& schema) {
  auto rules = JsonSchemaRules(schema, "root");
  if (!rules.ok()) return rules.status();
  return rules.value() + kJsonRules;
}

std::string JsonObjectGbnf() { return std::string("root ::= object\n") + kJsonRules; }
std::string JsonSharedRules() { return kJsonRules; }
std::string GbnfLiteral(std::string_view text) { return Literal(text); }

}  // namespace kvfuse::sched::grammar
