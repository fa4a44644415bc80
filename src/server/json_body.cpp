#include "server/json_body.h"

#include <string>

namespace kvfuse::server {

int JsonNestingDepth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::variant<nlohmann::json, ApiError> ParseJsonObject(std::string_view text) {
  if (JsonNestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth)
    return ApiError{400, "the request body nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth) +
                             " levels", "invalid_request_error", ""};
  nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return ApiError{400, "the request body is not valid JSON", "invalid_request_error", ""};
  if (!body.is_object()) return ApiError{400, "the request body must be a JSON object", "invalid_request_error", ""};
  return body;
}

}  // namespace kvfuse::server
