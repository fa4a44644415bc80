// Request bodies from clients: JSON parsed only after its nesting depth is checked, because
// nlohmann's dump() and comparisons recurse once per level (a 200 KB body of 100,000 nested
// arrays overflowed the stack). Stateless: any thread may call.
#pragma once

#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "server/openai_api.h"

namespace kvfuse::server {

// Deeper than any OpenAI request needs (tool schemas nest a few levels).
inline constexpr int kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in `text`, outside strings; stops counting once
// it passes `limit`. Not a validator: malformed text is left to the parser.
int JsonNestingDepth(std::string_view text, int limit);

// A JSON object, or a 400 that says why not (not JSON, too deep, not an object).
std::variant<nlohmann::json, ApiError> ParseJsonObject(std::string_view text);

}  // namespace kvfuse::server
