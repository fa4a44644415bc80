#include "server/openai_api.h"

#include <charconv>
#include <cmath>
#include <random>

#include "server/json_body.h"
#include "server/structured_output.h"
#include "server/tool_calls.h"
#include "server/rag_request.h"
#include "server/unhonoured_params.h"

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

// An optional top-level number within [lo, hi].
std::optional<ApiError> ReadNumber(const json& body, const char* name, double lo, double hi, double& out) {
  return ReadNumberField(body, name, name, lo, hi, /*whole=*/false, out);
}

// max_completion_tokens (OpenAI's name now) or max_tokens (the older one, llama.cpp's), a
// whole number; both given must agree.
std::optional<ApiError> ReadMaxTokens(const json& body, double& out) {
  double by_new = -1, by_old = -1;
  if (auto err = ReadNumberField(body, "max_completion_tokens", "max_completion_tokens", 1, 1e6, true, by_new))
    return err;
  if (auto err = ReadNumberField(body, "max_tokens", "max_tokens", 1, 1e6, true, by_old)) return err;
  if (by_new > 0 && by_old > 0 && by_new != by_old)
    return Invalid("max_completion_tokens", "'max_completion_tokens' and 'max_tokens' differ: give one of them");
  if (by_new > 0 || by_old > 0) out = std::max(by_new, by_old);
  return std::nullopt;
}

// The seed as the JSON integer it is (a double would merge seeds past 2^53); none for -1
// (llama.cpp's "random") or when absent.
std::optional<ApiError> ReadSeed(const json& body, std::optional<uint64_t>& out) {
  if (!HasValue(body, "seed")) return std::nullopt;
  const json& s = body["seed"];
  const double exact = 9007199254740992.0;  // 2^53: a float past it may not be the number written
  if (s.is_number_unsigned()) {
    out = s.get<uint64_t>();
  } else if (s.is_number_float() && s.get<double>() >= 0 && s.get<double>() <= exact &&
             s.get<double>() == std::floor(s.get<double>())) {  // 5.0, as Python clients send
    out = static_cast<uint64_t>(s.get<double>());
  } else if (!((s.is_number_integer() && s.get<int64_t>() == -1) || (s.is_number_float() && s.get<double>() == -1))) {
    return Invalid("seed", "'seed' must be a whole number from 0 to 18446744073709551615 (or -1: random)");
  }
  return std::nullopt;
}

}  // namespace

// Message content: a string, or an array of {"type": "text", "text": ...} parts.
std::optional<std::string> ContentText(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return std::nullopt;
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
        !part["text"].is_string())
      return std::nullopt;
    text += part["text"].get<std::string>();
  }
  return text;
}

json ErrorBody(const ApiError& e) {
  return {{"error",
           {{"message", e.message}, {"type", e.type}, {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.status}}}};
}

namespace {

// stream_options, after `stream`: only include_usage, and (as OpenAI) only when streaming.
std::optional<ApiError> ReadStreamOptions(const json& body, ParsedRequest& out) {
  if (!HasValue(body, "stream_options")) return std::nullopt;
  const json& o = body["stream_options"];
  if (!o.is_object()) return Invalid("stream_options", "'stream_options' must be an object");
  if (!out.stream) return Invalid("stream_options", "'stream_options' is only allowed when 'stream' is true");
  for (const auto& [key, value] : o.items())
    if (key != "include_usage") return Invalid("stream_options", "'stream_options' takes only 'include_usage'");
  if (!HasValue(o, "include_usage")) return std::nullopt;
  bool include_usage = false;
  if (auto err = ReadBoolField(o, "include_usage", "stream_options.include_usage", include_usage)) {
    err->param = "stream_options";
    return err;
  }
  out.stream_usage = include_usage ? StreamUsage::kSeparateChunk : StreamUsage::kNone;
  return std::nullopt;
}

// Sampling, limits, streaming and stops, shared by both endpoints.
std::optional<ApiError> ReadGenerationOptions(const json& body, const ApiLimits& limits, ParsedRequest& out) {
  engine::GenerationRequest& g = out.generation;
  double max_tokens = limits.default_max_tokens, temperature = 0.8, top_p = 0.95, top_k = 40, min_p = 0.0,
         presence = 0, frequency = 0, repeat = 1, repeat_last_n = 64, n = 1;
  if (auto err = ReadMaxTokens(body, max_tokens)) return err;
  const std::tuple<const char*, double, double, double*> fields[] = {
      {"temperature", 0.0, 2.0, &temperature},      {"top_p", 0.0, 1.0, &top_p},
      {"min_p", 0.0, 1.0, &min_p},                  {"presence_penalty", -2.0, 2.0, &presence},
      {"frequency_penalty", -2.0, 2.0, &frequency}, {"repeat_penalty", 0.01, 10.0, &repeat}};
  for (const auto& [name, lo, hi, dst] : fields)
    if (auto err = ReadNumber(body, name, lo, hi, *dst)) return err;
  // Sampling's top_k (RAG's is rag.top_k): 0 or less disables it, as in llama.cpp.
  if (auto err = ReadNumberField(body, "top_k", "top_k", -1e6, 1e6, /*whole=*/true, top_k)) return err;
  // llama.cpp's window of the repeat penalty: -1 is every generated token, 0 disables it.
  if (auto err = ReadNumberField(body, "repeat_last_n", "repeat_last_n", -1, 1e6, /*whole=*/true, repeat_last_n))
    return err;
  if (auto err = ReadNumberField(body, "n", "n", 1, kMaxChoices, /*whole=*/true, n)) return err;
  std::optional<uint64_t> seed;
  if (auto err = ReadSeed(body, seed)) return err;
  out.n = static_cast<int>(n);
  top_k = std::max(top_k, 0.0);
  g.max_tokens = static_cast<int32_t>(max_tokens);
  // No seed (or llama.cpp's -1): a random one, so that sampled answers differ from call to call.
  const uint64_t seed_used =
      seed ? *seed : (static_cast<uint64_t>(std::random_device()()) << 32) ^ std::random_device()();
  g.sampling = {static_cast<float>(temperature), static_cast<int>(top_k), static_cast<float>(top_p),
                seed_used,     static_cast<float>(min_p), static_cast<float>(presence),
                static_cast<float>(frequency),   static_cast<float>(repeat), static_cast<int32_t>(repeat_last_n)};
  if (auto err = ReadBoolField(body, "stream", "stream", out.stream)) return err;
  if (auto err = ReadStreamOptions(body, out)) return err;
  if (auto err = ReadBoolField(body, "ignore_eos", "ignore_eos", g.ignore_eos)) return err;
  if (HasValue(body, "stop")) {
    const json& s = body["stop"];
    if (s.is_string()) {
      g.stop.push_back(s.get<std::string>());
    } else if (s.is_array() && s.size() <= 16) {
      for (const json& x : s) {
        if (!x.is_string()) return Invalid("stop", "'stop' must be a string or an array of strings");
        g.stop.push_back(x.get<std::string>());
      }
    } else {
      return Invalid("stop", "'stop' must be a string or an array of at most 16 strings");
    }
  }
  return std::nullopt;
}

// /v1/completions: one prompt string.
std::optional<ApiError> ReadTextPrompt(const json& body, const engine::Engine& engine, engine::GenerationRequest& g) {
  if (HasRag(body)) return Invalid("rag", "'rag' needs /v1/chat/completions");
  if (!body.contains("prompt")) return Invalid("prompt", "'prompt' is required");
  const json& p = body["prompt"];
  std::string text;
  if (p.is_string()) {
    text = p.get<std::string>();
  } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
    text = p[0].get<std::string>();
  } else {
    return Invalid("prompt", "'prompt' must be a string (one prompt per request)");
  }
  g.prompt.prefix = engine.tokenizer()->Encode(text, /*add_special=*/true);
  return std::nullopt;
}

}  // namespace

// One message as the chat template takes it: role and content. An assistant message may have
// no content (null, or absent when it made tool calls); its tool_calls must be well formed
// (the chat then goes through the JSON rendering of server/tool_calls, which keeps them). A
// tool message's content is the tool's answer.
std::variant<engine::ChatMessage, ApiError> ReadMessage(const json& m) {
  if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
    return Invalid("messages", "each message needs a string 'role' and a 'content'");
  const std::string role = m["role"].get<std::string>();
  if (role != "system" && role != "user" && role != "assistant" && role != "developer" && role != "tool")
    return Invalid("messages", "unknown role '" + role.substr(0, 40) + "'");
  const bool has_content = m.contains("content") && !m["content"].is_null();
  if (role == "assistant") {
    const json calls = m.value("tool_calls", json());
    if (!calls.is_null() && !calls.is_array()) return Invalid("messages", "'tool_calls' must be an array");
    for (const json& c : calls.is_array() ? calls : json::array()) {
      const bool ok = c.is_object() && c.contains("function") && c["function"].is_object() &&
                      c["function"].contains("name") && c["function"]["name"].is_string() &&
                      c["function"].contains("arguments") && c["function"]["arguments"].is_string();
      if (!ok) return Invalid("messages", "each tool call needs a 'function' with a string 'name' and string 'arguments'");
    }
    if (!has_content) return engine::ChatMessage{role, ""};
  } else if (HasValue(m, "tool_calls") && m["tool_calls"] != json::array()) {  // [] asks for nothing
    return Invalid("messages", "only an assistant message has 'tool_calls' (a " + role + " message had them)");
  } else if (!has_content) {
    return Invalid("messages", "a " + role + " message needs a 'content'");
  }
  auto content = ContentText(m["content"]);
  if (!content) return Invalid("messages", "'content' must be a string or an array of text parts");
  return engine::ChatMessage{role == "developer" ? "system" : role, *content};
}

std::variant<std::vector<engine::ChatMessage>, ApiError> ReadMessages(const json& body) {
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
    return Invalid("messages", "'messages' must be a non-empty array");
  std::vector<engine::ChatMessage> messages;
  for (const json& m : body["messages"]) {
    auto message = ReadMessage(m);
    if (auto* err = std::get_if<ApiError>(&message)) return *err;
    messages.push_back(std::get<engine::ChatMessage>(std::move(message)));
  }
  return messages;
}

namespace {

// Log probabilities: chat's `logprobs` (a boolean) with `top_logprobs` (0 to 20), or the
// legacy endpoint's `logprobs` (how many alternatives, 0 to 5).
std::optional<ApiError> ReadLogprobs(const json& body, bool chat, engine::GenerationRequest& g) {
  const json none;
  const json& asked = body.contains("logprobs") ? body["logprobs"] : none;
  const json& top = chat && body.contains("top_logprobs") ? body["top_logprobs"] : none;
  if (!chat) {
    if (asked.is_null() || asked == false) return std::nullopt;
    if (!asked.is_number_integer() || asked.get<int64_t>() < 0 || asked.get<int64_t>() > 5)
      return Invalid("logprobs", "'logprobs' must be a whole number from 0 to 5 (the alternatives shown)");
    g.logprobs = static_cast<int32_t>(asked.get<int64_t>());
    return std::nullopt;
  }
  bool on = false;
  if (auto err = ReadBoolField(body, "logprobs", "logprobs", on)) return err;
  if (!top.is_null() && (!top.is_number_integer() || top.get<int64_t>() < 0 || top.get<int64_t>() > 20))
    return Invalid("top_logprobs", "'top_logprobs' must be a whole number from 0 to 20");
  if (!top.is_null() && top != 0 && !on) return Invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  if (on) g.logprobs = top.is_null() ? 0 : static_cast<int32_t>(top.get<int64_t>());
  return std::nullopt;
}

// OpenAI's logit_bias: {"token id": bias in [-100, 100]}, at most 300 tokens of the vocabulary.
std::optional<ApiError> ReadLogitBias(const json& body, int32_t n_vocab, engine::GenerationRequest& g) {
  if (!HasValue(body, "logit_bias")) return std::nullopt;
  const json& bias = body["logit_bias"];
  if (!bias.is_object() || bias.size() > 300)
    return Invalid("logit_bias", "'logit_bias' must be an object of at most 300 {\"token id\": bias}");
  for (const auto& [key, value] : bias.items()) {
    int64_t id = -1;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    // Digits only, no sign, space or leading zero: one spelling per token.
    if (ec != std::errc() || end != key.data() + key.size() || key != std::to_string(id) || id < 0 || id >= n_vocab)
      return Invalid("logit_bias", "'logit_bias' keys must be token ids from 0 to " + std::to_string(n_vocab - 1));
    if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100)
      return Invalid("logit_bias", "'logit_bias' values must be numbers from -100 to 100");
    g.sampling.logit_bias.emplace_back(static_cast<int32_t>(id), value.get<float>());
  }
  return std::nullopt;
}

// llama-server's cache_prompt (default true): false asks for the prompt computed anew, none
// of its KV taken from the prefix cache, which is the full fusion mode.
std::optional<ApiError> ReadCachePrompt(const json& body, engine::GenerationRequest& g) {
  bool cache_prompt = true;
  if (auto err = ReadBoolField(body, "cache_prompt", "cache_prompt", cache_prompt)) return err;
  if (cache_prompt) return std::nullopt;
  if (!g.prompt.chunks.empty() && g.fusion.mode != engine::FusionMode::kFull)
    return Invalid("cache_prompt", "'cache_prompt': false with rag reuses no cache only with rag.fusion_mode \"full\"");
  g.fusion.mode = engine::FusionMode::kFull;
  return std::nullopt;
}

// /v1/chat/completions: the chat template over the messages, or a RAG prompt.
std::optional<ApiError> ReadChatPrompt(const json& body, const nlohmann::ordered_json& ordered, const engine::Engine& engine,
                                       const ApiLimits& limits, const Retriever& retrieve, ParsedRequest& out) {
  auto tool_prompt = ReadToolChat(body, ordered, engine, out);
  if (auto* err = std::get_if<ApiError>(&tool_prompt)) return *err;
  if (const auto& text = std::get<std::optional<std::string>>(tool_prompt)) {
    auto tokens = engine.EncodeRendered(*text);
    if (!tokens.ok()) return ApiError{500, tokens.status().message(), "server_error", ""};
    out.generation.prompt.prefix = std::move(tokens).value();
    return std::nullopt;
  }
  auto messages = ReadMessages(body);
  if (auto* err = std::get_if<ApiError>(&messages)) return *err;
  const auto& list = std::get<std::vector<engine::ChatMessage>>(messages);
  if (HasRag(body)) return ReadRagRequest(body, list, engine, limits, retrieve, out);
  auto text = engine.RenderChat(list, /*add_generation_prompt=*/true);
  if (!text.ok()) return ApiError{400, text.status().message(), "invalid_request_error", "messages"};
  auto tokens = engine.EncodeRendered(text.value());
  if (!tokens.ok()) return ApiError{500, tokens.status().message(), "server_error", ""};
  out.generation.prompt.prefix = std::move(tokens).value();
  return std::nullopt;
}

}  // namespace

std::variant<ParsedRequest, ApiError> ParseCompletionRequest(const json& body, std::string_view raw_body, bool chat,
                                                             const engine::Engine& engine, const ApiLimits& limits,
                                                             const Retriever& retrieve) {
  if (!body.is_object()) return Invalid("", "the request body must be a JSON object");
  if (!engine.tokenizer()) return ApiError{500, "the model has no usable tokenizer", "server_error", ""};
  ParsedRequest out;
  engine::GenerationRequest& g = out.generation;
  if (auto err = RefuseUnhonoured(body, chat)) return *err;
  if (auto err = RefuseMovedRagFields(body)) return *err;
  if (auto err = RefuseUnknown(body, chat ? ApiEndpoint::kChat : ApiEndpoint::kCompletions)) return *err;
  if (auto err = ReadGenerationOptions(body, limits, out)) return *err;
  if (auto err = ReadLogitBias(body, engine.n_vocab(), g)) return *err;
  if (auto err = ReadLogprobs(body, chat, g)) return *err;
  // The body again in the client's key order, for schemas and tools (the depth was bounded
  // when `body` was parsed from the same text, the width here).
  if (auto err = RefuseWideObjects(body)) return *err;
  const nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(raw_body, nullptr, /*allow_exceptions=*/false);
  if (!ordered.is_object()) return Invalid("", "the request body must be a JSON object");
  if (auto err = ReadStructuredOutput(body, ordered, engine, g)) return *err;
  // Last: a chat's prompt may be built by retrieval, which only a valid request deserves.
  if (auto err = chat ? ReadChatPrompt(body, ordered, engine, limits, retrieve, out) : ReadTextPrompt(body, engine, g))
    return *err;
  if (g.sampling.grammar && g.ignore_eos)  // from response_format, json_schema, grammar or a forced tool call
    return Invalid("ignore_eos", "'ignore_eos' cannot be combined with a grammar: the grammar decides where the answer ends");
  if (auto err = ReadCachePrompt(body, g)) return *err;
  if (g.prompt.size() == 0) return Invalid(chat ? "messages" : "prompt", "the prompt is empty");
  if (g.prompt.size() > limits.max_prompt_tokens)
    return Invalid(chat ? "messages" : "prompt",
                   "the prompt has " + std::to_string(g.prompt.size()) + " tokens; this server takes at most " +
                       std::to_string(limits.max_prompt_tokens));
  return out;
}

}  // namespace kvfuse::server
