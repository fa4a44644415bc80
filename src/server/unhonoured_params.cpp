#include "server/unhonoured_params.h"

#include <algorithm>
#include <cmath>
#include <string_view>

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

enum class Endpoint { kBoth, kChat, kText };

struct Rule {
  const char* name;
  Endpoint where;
  bool (*well_typed)(const json&);
  const char* type;  // what a well-typed value is, for the message
  bool (*asks_nothing)(const json&);
  const char* why;   // what the server lacks, for the refusal
};

bool IsNumberIn(const json& v, double lo, double hi) {
  return v.is_number() && v.get<double>() >= lo && v.get<double>() <= hi;
}
bool IsWhole(const json& v) {
  return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
}
bool IsOne(const json& v) { return v.get<double>() == 1; }
bool IsZero(const json& v) { return v.get<double>() == 0; }
bool IsFalse(const json& v) { return v.is_boolean() && !v.get<bool>(); }
bool IsEmpty(const json& v) { return v.is_string() ? v.get<std::string>().empty() : v.empty(); }
bool IsNone(const json& v) { return v == "none"; }
bool Anything(const json&) { return true; }

// The value for a message, cut short: a refused value can be long.
std::string Shown(const json& v) {
  const std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= 60 ? text : text.substr(0, 57) + "...";
}

const Rule kRules[] = {
    {"best_of", Endpoint::kText, [](const json& v) { return IsWhole(v) && IsNumberIn(v, 1, 20); },
     "a whole number from 1 to 20", IsOne, "the best of several choices is not picked (n gives them all)"},
    {"echo", Endpoint::kText, [](const json& v) { return v.is_boolean(); }, "a boolean", IsFalse,
     "the prompt is not echoed back"},
    {"suffix", Endpoint::kText, [](const json& v) { return v.is_string(); }, "a string", IsEmpty,
     "text insertion (a suffix) is not supported"},
    {"functions", Endpoint::kChat, [](const json& v) { return v.is_array(); }, "an array", IsEmpty,
     "the deprecated functions are not supported: use tools"},
    {"function_call", Endpoint::kChat, [](const json& v) { return v.is_string() || v.is_object(); },
     "a string or an object", IsNone, "the deprecated function_call is not supported: use tool_choice"},
    // OpenAI's options about the service, not the answer: storing a completion is not offered.
    {"store", Endpoint::kBoth, [](const json& v) { return v.is_boolean(); }, "a boolean", IsFalse,
     "completions are not stored"},
    {"metadata", Endpoint::kBoth, [](const json& v) { return v.is_object(); }, "an object", Anything, ""},
    {"service_tier", Endpoint::kBoth, [](const json& v) { return v.is_string(); }, "a string",
     [](const json& v) { return v == "auto" || v == "default"; }, "this server has one service tier"},
    {"prompt_cache_key", Endpoint::kBoth, [](const json& v) { return v.is_string(); }, "a string", Anything, ""},
    {"safety_identifier", Endpoint::kBoth, [](const json& v) { return v.is_string(); }, "a string", Anything, ""},
    // llama.cpp's options (its /completion and /v1 alike) at the values that ask for nothing.
    {"n_probs", Endpoint::kBoth, [](const json& v) { return IsWhole(v) && IsNumberIn(v, 0, 100); },
     "a whole number from 0 to 100", IsZero, "n_probs is /completion's: /v1 has logprobs and top_logprobs"},
    {"post_sampling_probs", Endpoint::kBoth, [](const json& v) { return v.is_boolean(); }, "a boolean", IsFalse,
     "probabilities are the model's, before sampling (post_sampling_probs false)"},
    {"mirostat", Endpoint::kBoth, [](const json& v) { return IsWhole(v) && IsNumberIn(v, 0, 2); },
     "0, 1 or 2", IsZero, "the sampler has no mirostat"},
    {"typical_p", Endpoint::kBoth, [](const json& v) { return IsNumberIn(v, 0, 1); }, "a number from 0 to 1", IsOne,
     "the sampler has no typical sampling"},
    {"dry_multiplier", Endpoint::kBoth, [](const json& v) { return IsNumberIn(v, 0, 100); }, "a number >= 0", IsZero,
     "the sampler has no DRY penalty"},
    {"xtc_probability", Endpoint::kBoth, [](const json& v) { return IsNumberIn(v, 0, 1); }, "a number from 0 to 1",
     IsZero, "the sampler has no XTC"},
    {"id_slot", Endpoint::kBoth, [](const json& v) { return IsWhole(v) && IsNumberIn(v, -1, 1e6); }, "a whole number",
     [](const json& v) { return v.get<double>() == -1; }, "requests are not pinned to slots"},
    {"return_tokens", Endpoint::kBoth, [](const json& v) { return v.is_boolean(); }, "a boolean", IsFalse,
     "token ids are not returned"},
};

// Honoured by both completion endpoints (openai_api.cpp's ReadGenerationOptions), beside the
// names of kRules. `user` identifies the end user for the operator's logs: it asks nothing.
constexpr std::string_view kGenerationFields[] = {
    "model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p", "seed",
    "presence_penalty", "frequency_penalty", "repeat_penalty", "repeat_last_n", "stop", "stream",
    "stream_options", "ignore_eos", "cache_prompt", "user", "n", "logit_bias", "logprobs",
    "response_format", "json_schema", "grammar"};
constexpr std::string_view kChatFields[] = {"messages",    "rag",         "top_logprobs",        "tools",
                                           "tool_choice", "parallel_tool_calls", "chat_template_kwargs"};
// rag on /v1/completions is refused later with a message that says where it belongs.
constexpr std::string_view kCompletionFields[] = {"prompt", "rag"};
constexpr std::string_view kEmbeddingFields[] = {"model", "input", "encoding_format", "dimensions", "user"};
// llama-server's with_pieces: only false (info_routes refuses true rather than answer without
// the pieces).
constexpr std::string_view kTokenizeFields[] = {"content", "add_special", "with_pieces"};
constexpr std::string_view kDetokenizeFields[] = {"tokens"};

template <size_t N>
bool In(const std::string_view (&names)[N], const std::string& key) {
  return std::find(std::begin(names), std::end(names), key) != std::end(names);
}

bool Known(const std::string& key, ApiEndpoint endpoint) {
  if (endpoint == ApiEndpoint::kEmbeddings) return In(kEmbeddingFields, key);
  if (endpoint == ApiEndpoint::kTokenize) return In(kTokenizeFields, key);
  if (endpoint == ApiEndpoint::kDetokenize) return In(kDetokenizeFields, key);
  const bool chat = endpoint == ApiEndpoint::kChat;
  if (In(kGenerationFields, key) || (chat ? In(kChatFields, key) : In(kCompletionFields, key))) return true;
  return std::any_of(std::begin(kRules), std::end(kRules), [&](const Rule& r) {
    return key == r.name && (r.where == Endpoint::kBoth || (r.where == Endpoint::kChat) == chat);
  });
}

}  // namespace

std::optional<ApiError> RefuseUnknown(const json& body, ApiEndpoint endpoint) {
  for (const auto& [key, value] : body.items()) {
    if (value.is_null()) continue;  // null asks for nothing, as everywhere
    if (!Known(key, endpoint))
      return ApiError{400, "unknown parameter '" + key.substr(0, 64) + "': this endpoint does not take it",
                      "invalid_request_error", key.substr(0, 64)};
    if ((key == "model" || key == "user") && !value.is_string())
      return ApiError{400, "'" + key + "' must be a string", "invalid_request_error", key};
  }
  return std::nullopt;
}

std::optional<ApiError> RefuseUnhonoured(const json& body, bool chat) {
  for (const Rule& rule : kRules) {
    if (rule.where == (chat ? Endpoint::kText : Endpoint::kChat)) continue;
    if (!body.contains(rule.name) || body[rule.name].is_null()) continue;
    const json& v = body[rule.name];
    const std::string quoted = std::string("'") + rule.name + "'";
    if (!rule.well_typed(v)) return ApiError{400, quoted + " must be " + rule.type, "invalid_request_error", rule.name};
    if (!rule.asks_nothing(v))
      return ApiError{400, quoted + " = " + Shown(v) + " cannot be honoured: " + rule.why, "invalid_request_error",
                      rule.name};
  }
  return std::nullopt;
}

}  // namespace kvfuse::server
