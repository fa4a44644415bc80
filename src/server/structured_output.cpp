#include "server/structured_output.h"

#include "engine/structured_output.h"
#include "server/json_body.h"

namespace kvfuse::server {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// The GBNF a request asks for ("" for none) and the field that asked, or the error naming it.
// `ordered` is the body with the client's key order.
std::variant<std::pair<std::string, std::string>, ApiError> RequestedGbnf(const json& body, const ordered_json& ordered) {
  std::string gbnf, field;
  auto take = [&](const char* name, util::Result<std::string> g) -> std::optional<ApiError> {
    if (!field.empty()) return Invalid(name, "'" + std::string(name) + "' and '" + field + "' both constrain the output; give one");
    if (!g.ok()) return Invalid(name, g.status().message());
    gbnf = std::move(g).value();
    field = name;
    return std::nullopt;
  };
  if (HasValue(body, "response_format")) {
    const json& rf = body["response_format"];
    const std::string type = rf.is_object() && rf.contains("type") && rf["type"].is_string() ? rf["type"].get<std::string>() : "";
    const ordered_json& orf = ordered["response_format"];
    if (type == "json_object") {  // llama-server also takes a schema here
      if (auto e = take("response_format", orf.contains("schema") ? engine::JsonSchemaToGbnf(orf["schema"])
                                                                    : util::Result<std::string>(engine::JsonObjectGbnf())))
        return *e;
    } else if (type == "json_schema") {
      const ordered_json spec = orf.value("json_schema", ordered_json::object());
      if (!spec.is_object() || !spec.contains("schema"))
        return Invalid("response_format", "'response_format.json_schema.schema' is required for type json_schema");
      if (auto e = take("response_format", engine::JsonSchemaToGbnf(spec["schema"]))) return *e;
    } else if (type != "text") {
      return Invalid("response_format", "'response_format.type' must be text, json_object or json_schema");
    }
  }
  if (HasValue(body, "json_schema"))
    if (auto e = take("json_schema", engine::JsonSchemaToGbnf(ordered["json_schema"]))) return *e;
  if (HasValue(body, "grammar")) {
    if (!body["grammar"].is_string()) return Invalid("grammar", "'grammar' must be a GBNF string");
    if (auto e = take("grammar", body["grammar"].get<std::string>())) return *e;
  }
  return std::make_pair(gbnf, field);
}

}  // namespace

std::optional<ApiError> ReadStructuredOutput(const json& body, const ordered_json& ordered, const engine::Engine& engine,
                                             engine::GenerationRequest& g) {
  if (!HasValue(body, "response_format") && !HasValue(body, "json_schema") && !HasValue(body, "grammar")) return std::nullopt;
  auto requested = RequestedGbnf(body, ordered);
  if (auto* err = std::get_if<ApiError>(&requested)) return *err;
  const auto& [gbnf, field] = std::get<std::pair<std::string, std::string>>(requested);
  if (gbnf.empty()) return std::nullopt;  // response_format text
  auto grammar = engine.CompileGrammar(gbnf);
  if (!grammar.ok()) return Invalid(field, grammar.status().message());
  g.sampling.grammar = std::move(grammar).value();
  return std::nullopt;
}

}  // namespace kvfuse::server
