#include "server/json_body.h"

#include "util/json_depth.h"

#include <cmath>
#include <string>

namespace kvfuse::server {

ApiError Invalid(const std::string& param, const std::string& message) { return {400, message, "invalid_request_error", param}; }

bool HasValue(const nlohmann::json& obj, const char* key) { return obj.contains(key) && !obj[key].is_null(); }

std::optional<ApiError> ReadBoolField(const nlohmann::json& obj, const char* key, const std::string& param, bool& out) {
  if (!HasValue(obj, key)) return std::nullopt;
  if (!obj[key].is_boolean()) return Invalid(param, "'" + param + "' must be a boolean");
  out = obj[key].get<bool>();
  return std::nullopt;
}

std::optional<ApiError> ReadNumberField(const nlohmann::json& obj, const char* key, const std::string& param,
                                        double lo, double hi, bool whole, double& out) {
  if (!HasValue(obj, key)) return std::nullopt;
  const std::string quoted = "'" + param + "'";
  if (!obj[key].is_number()) return Invalid(param, quoted + " must be a number");
  const double v = obj[key].get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    return Invalid(param, quoted + " must be between " + nlohmann::json(lo).dump() + " and " + nlohmann::json(hi).dump());
  if (whole && v != std::floor(v)) return Invalid(param, quoted + " must be a whole number");
  out = v;
  return std::nullopt;
}

namespace {

bool HasWideObject(const nlohmann::json& v) {
  if (v.is_object() && v.size() > kMaxObjectKeys) return true;
  if (!v.is_object() && !v.is_array()) return false;
  for (const auto& item : v) {
    if (HasWideObject(item)) return true;
  }
  return false;
}

}  // namespace

std::optional<ApiError> RefuseWideObjects(const nlohmann::json& body) {
  if (body.size() > kMaxObjectKeys) return Invalid("", "the request body has more than " + std::to_string(kMaxObjectKeys) + " fields");
  for (const auto& [key, value] : body.items())
    if (HasWideObject(value))
      return Invalid(key, "'" + key + "' holds an object of more than " + std::to_string(kMaxObjectKeys) + " keys");
  return std::nullopt;
}

std::variant<nlohmann::json, ApiError> ParseJsonObject(std::string_view text) {
  if (util::JsonNestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth)
    return ApiError{400, "the request body nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth) +
                             " levels", "invalid_request_error", ""};
  nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return ApiError{400, "the request body is not valid JSON", "invalid_request_error", ""};
  if (!body.is_object()) return ApiError{400, "the request body must be a JSON object", "invalid_request_error", ""};
  return body;
}

}  // namespace kvfuse::server
