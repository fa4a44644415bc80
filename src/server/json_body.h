// Request bodies from clients: JSON parsed only after its nesting depth is checked, because
// nlohmann's dump() and comparisons recurse once per level (a 200 KB body of 100,000 nested
// arrays overflowed the stack). Stateless: any thread may call.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "server/openai_api.h"
#include "util/json_depth.h"

namespace kvfuse::server {

using util::kMaxJsonDepth;

// A JSON object, or a 400 that says why not (not JSON, too deep, not an object).
std::variant<nlohmann::json, ApiError> ParseJsonObject(std::string_view text);

// The most keys one object of a request may have (a JSON schema's properties, a message's
// fields). nlohmann's ordered_json, which keeps a client's key order for schemas and tools,
// inserts a key with a linear search: an object of 95,000 keys cost 10-20 s to parse.
inline constexpr size_t kMaxObjectKeys = 1024;
// A 400 naming the top-level field that holds an object of more than kMaxObjectKeys keys.
// `body` was parsed with its depth bounded (the walk recurses once per level).
std::optional<ApiError> RefuseWideObjects(const nlohmann::json& body);

// A 400 invalid_request_error naming `param`.
ApiError Invalid(const std::string& param, const std::string& message);

// Whether obj[key] is there and not null (a null field asks for nothing, as OpenAI reads it).
bool HasValue(const nlohmann::json& obj, const char* key);

// The boolean at obj[key] into `out`, when present and not null: a 400 naming `param`
// unless it is a boolean; `out` untouched when absent.
std::optional<ApiError> ReadBoolField(const nlohmann::json& obj, const char* key, const std::string& param, bool& out);

// The number at obj[key] into `out`, when present and not null: a 400 naming `param` unless it
// is a finite number within [lo, hi] (and whole, if asked); `out` untouched when absent.
std::optional<ApiError> ReadNumberField(const nlohmann::json& obj, const char* key, const std::string& param,
                                        double lo, double hi, bool whole, double& out);

}  // namespace kvfuse::server
