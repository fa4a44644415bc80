// JSON Schema to GBNF (grammar.h), for structured output: every sentence of the grammar is
// JSON that validates against the schema. Supported: type (one or a list), properties,
// required, additionalProperties (false, or a schema for objects without properties), items,
// minItems, maxItems, minLength, maxLength, enum, const, anyOf, oneOf, $ref into $defs or
// definitions (recursion included); title, description, default, examples, $schema, $id,
// $comment and strict are annotations. Properties are written in the schema's order, the
// optional ones after the required. Any other keyword (pattern, format, minimum, allOf, ...)
// is an error that names it: a constraint is never dropped silently.
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/status.h"

namespace kvfuse::sched::grammar {

util::Result<std::string> JsonSchemaToGbnf(const nlohmann::ordered_json& schema);
// Any JSON object (OpenAI's response_format json_object).
std::string JsonObjectGbnf();

// For grammars that hold several schemas (a tool call's arguments per tool): the rules of
// `schema` with its start rule named `rule` and every rule of its own prefixed by it, without
// the shared JSON rules, which JsonSharedRules gives once.
util::Result<std::string> JsonSchemaRules(const nlohmann::ordered_json& schema, const std::string& rule);
std::string JsonSharedRules();
// `text` as a GBNF string literal.
std::string GbnfLiteral(std::string_view text);

}  // namespace kvfuse::sched::grammar
