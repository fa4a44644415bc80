#include "server/tool_calls.h"

#include "engine/chat_tools.h"
#include "engine/structured_output.h"
#include "server/json_body.h"
#include "util/json_depth.h"

#include <cstring>

namespace kvfuse::server {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr const char* kCallOpen = "<tool_call>";
constexpr const char* kCallClose = "</tool_call>";

std::string Trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::optional<ApiError> CheckTool(const ordered_json& tool) {
  const bool ok = tool.is_object() && tool.contains("type") && tool["type"] == "function" && tool.contains("function") &&
                  tool["function"].is_object() && tool["function"].contains("name") && tool["function"]["name"].is_string() &&
                  !tool["function"]["name"].get<std::string>().empty() &&
                  (!tool["function"].contains("parameters") || tool["function"]["parameters"].is_object());
  if (!ok) return Invalid("tools", "each tool must be {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": {...}}}");
  return std::nullopt;
}

// A call as OpenAI returns it, from the name and the arguments the model wrote.
json OpenAiCall(const std::string& id, const std::string& name, const ordered_json& arguments) {
  return {{"id", id}, {"type", "function"},
          {"function", {{"name", name}, {"arguments", arguments.is_string() ? arguments.get<std::string>() : arguments.dump()}}}};
}

}  // namespace

std::variant<ToolRequest, ApiError> ReadTools(const ordered_json& ordered, const engine::Engine& engine) {
  ToolRequest out;
  out.syntax = engine.chat_template_source().find("ipython") != std::string::npos ? ToolSyntax::kLlama3Json : ToolSyntax::kHermes;
  const ordered_json tools = ordered.value("tools", ordered_json());
  if (!tools.is_null()) {
    if (!tools.is_array()) return Invalid("tools", "'tools' must be an array");
    for (const ordered_json& t : tools)
      if (auto err = CheckTool(t)) return *err;
    out.tools = tools;
  }
  const ordered_json choice = ordered.value("tool_choice", ordered_json());
  std::string mode = out.tools.empty() ? "none" : "auto";
  if (choice.is_string()) {
    mode = choice.get<std::string>();
    if (mode != "none" && mode != "auto" && mode != "required")
      return Invalid("tool_choice", "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}");
  } else if (choice.is_object()) {
    const ordered_json f = choice.value("function", ordered_json());
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
      return Invalid("tool_choice", "'tool_choice' must name a function: {\"type\": \"function\", \"function\": {\"name\": ...}}");
    mode = "named";
    out.forced = f["name"].get<std::string>();
    bool known = false;
    for (const ordered_json& t : out.tools) known |= t["function"]["name"] == out.forced;
    if (!known) return Invalid("tool_choice", "'tool_choice' names '" + out.forced.substr(0, 64) + "', which is not in 'tools'");
  } else if (!choice.is_null()) {
    return Invalid("tool_choice", "'tool_choice' must be a string or an object");
  }
  if (mode != "none" && out.tools.empty()) return Invalid("tool_choice", "'tool_choice' asks for a tool call but 'tools' is empty");
  if (mode == "required") out.forced = "*";
  out.parse = mode != "none";
  const ordered_json kwargs = ordered.value("chat_template_kwargs", ordered_json());
  if (!kwargs.is_null()) {
    if (!kwargs.is_object()) return Invalid("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    for (const char* own : {"messages", "tools", "add_generation_prompt", "bos_token", "eos_token", "documents"})
      if (kwargs.contains(own))
        return Invalid("chat_template_kwargs", std::string("'chat_template_kwargs' may not set '") + own + "'");
    out.template_kwargs = kwargs;
  }
  ordered_json parallel = ordered.value("parallel_tool_calls", ordered_json(true));
  if (parallel.is_null()) parallel = true;  // null asks for nothing
  if (!parallel.is_boolean()) return Invalid("parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
  out.parallel = parallel.get<bool>();
  return out;
}

std::variant<std::string, ApiError> ForcedCallGbnf(const ToolRequest& tools) {
  std::string calls, rules;
  int i = 0;
  for (const ordered_json& t : tools.tools) {
    const std::string name = t["function"]["name"].get<std::string>();
    if (tools.forced != "*" && tools.forced != name) continue;
    const std::string args = "tool" + std::to_string(i++);
    auto schema = engine::JsonSchemaRules(t["function"].value("parameters", ordered_json::object()), args);
    if (!schema.ok()) return Invalid("tools", "tool '" + name.substr(0, 64) + "': " + schema.status().message());
    rules += schema.value();
    const std::string head = tools.syntax == ToolSyntax::kHermes ? "{\"name\": " + json(name).dump() + ", \"arguments\": "
                                                                  : "{\"name\": " + json(name).dump() + ", \"parameters\": ";
    calls += (calls.empty() ? "" : " | ") + engine::GbnfLiteral(head) + " " + args + " \"}\"";
  }
  std::string call = "call ::= " + calls + "\n";
  if (tools.syntax == ToolSyntax::kHermes)
    call = "call ::= " + engine::GbnfLiteral(std::string(kCallOpen) + "\n") + " ( " + calls + " ) " +
           engine::GbnfLiteral(std::string("\n") + kCallClose) + "\n";
  const std::string root = tools.parallel && tools.syntax == ToolSyntax::kHermes ? "root ::= call ( \"\\n\" call )*\n" : "root ::= call\n";
  return root + call + rules + engine::JsonSharedRules();
}

bool NeedsToolRendering(const ordered_json& ordered, const ToolRequest& tools) {
  if (!tools.tools.empty() || !tools.template_kwargs.empty()) return true;
  for (const ordered_json& m : ordered.value("messages", ordered_json::array()))
    if (m.is_object() && m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty()) return true;
  return false;
}

std::variant<std::string, ApiError> RenderToolChat(const ordered_json& ordered, const ToolRequest& tools,
                                                   const engine::Engine& engine) {
  ordered_json messages = ordered_json::array();
  for (const ordered_json& m : ordered["messages"]) {  // each checked by ReadMessages already
    const std::string role = m["role"].get<std::string>();
    ordered_json out = {{"role", role == "developer" ? "system" : role}};
    const bool has_content = m.contains("content") && !m["content"].is_null();
    if (has_content) {
      auto text = ContentText(json::parse(m["content"].dump()));
      if (!text) return Invalid("messages", "'content' must be a string or an array of text parts");
      out["content"] = *text;
    } else {
      out["content"] = nullptr;
    }
    for (const char* key : {"tool_calls", "tool_call_id", "name"})
      if (m.contains(key) && !m[key].is_null()) out[key] = m[key];
    // OpenAI sends a call's arguments as JSON text; templates expect the object (they tojson it).
    if (out.contains("tool_calls"))
      for (ordered_json& call : out["tool_calls"]) call["function"]["arguments"] = engine::CallArguments(call["function"]["arguments"]);
    messages.push_back(std::move(out));
  }
  auto text = engine.RenderChatJson(messages, tools.tools, tools.template_kwargs);
  if (!text.ok()) return ApiError{400, text.status().message(), "invalid_request_error", "messages"};
  return std::move(text).value();
}

std::variant<std::optional<std::string>, ApiError> ReadToolChat(const json& body, const ordered_json& ordered,
                                                                const engine::Engine& engine, ParsedRequest& out) {
  auto read = ReadTools(ordered, engine);
  if (auto* err = std::get_if<ApiError>(&read)) return *err;
  const ToolRequest& tools = std::get<ToolRequest>(read);
  if (tools.parse) {
    out.tool_calls = tools.syntax;
    out.parallel_tool_calls = tools.parallel;
    // The answer is read whole before it is sent, so a stream cannot carry its tokens' logprobs.
    if (out.stream && out.generation.logprobs >= 0) return Invalid("logprobs", "'logprobs' cannot be streamed with 'tools' (a call is sent whole at the end)");
  }
  if (!tools.forced.empty()) {
    if (out.generation.sampling.grammar)
      return Invalid("tool_choice", "a forced tool call cannot be combined with response_format, json_schema or grammar");
    auto gbnf = ForcedCallGbnf(tools);
    if (auto* err = std::get_if<ApiError>(&gbnf)) return *err;
    auto grammar = engine.CompileGrammar(std::get<std::string>(gbnf));
    if (!grammar.ok()) return Invalid("tools", "the tools' parameters make no usable call grammar: " + grammar.status().message());
    out.generation.sampling.grammar = std::move(grammar).value();
  }
  if (!NeedsToolRendering(ordered, tools)) return std::optional<std::string>();
  if (HasValue(body, "rag"))
    return Invalid("tools", "'tools', tool calls and 'chat_template_kwargs' cannot be combined with 'rag'");
  if (auto messages = ReadMessages(body); std::holds_alternative<ApiError>(messages)) return std::get<ApiError>(messages);
  auto text = RenderToolChat(ordered, tools, engine);
  if (auto* err = std::get_if<ApiError>(&text)) return *err;
  return std::optional<std::string>(std::get<std::string>(std::move(text)));
}

namespace {

// A call the model wrote, as JSON; discarded when it is not JSON or nests too deep to walk.
ordered_json ParseCall(const std::string& text) {
  if (util::JsonNestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth) return ordered_json(ordered_json::value_t::discarded);
  return ordered_json::parse(text, nullptr, false);
}

}  // namespace

ToolCallAnswer ParseToolCalls(const std::string& text, ToolSyntax syntax, const std::string& id_prefix) {
  ToolCallAnswer out;
  if (syntax == ToolSyntax::kLlama3Json) {
    const ordered_json call = ParseCall(Trimmed(text));
    if (call.is_object() && call.contains("name") && call["name"].is_string() && call.contains("parameters")) {
      out.tool_calls.push_back(OpenAiCall(id_prefix + "0", call["name"].get<std::string>(), call["parameters"]));
      return out;
    }
    out.content = text;
    return out;
  }
  std::string content;
  size_t pos = 0;
  while (true) {
    const size_t open = text.find(kCallOpen, pos);
    const size_t close = open == std::string::npos ? std::string::npos : text.find(kCallClose, open);
    if (close == std::string::npos) break;
    const std::string inner = text.substr(open + std::strlen(kCallOpen), close - open - std::strlen(kCallOpen));
    const ordered_json call = ParseCall(Trimmed(inner));
    const size_t end = close + std::strlen(kCallClose);
    if (call.is_object() && call.contains("name") && call["name"].is_string() && call.contains("arguments")) {
      content += text.substr(pos, open - pos);
      out.tool_calls.push_back(OpenAiCall(id_prefix + std::to_string(out.tool_calls.size()), call["name"].get<std::string>(),
                                          call["arguments"]));
    } else {
      content += text.substr(pos, end - pos);  // not a well-formed call: the model's text
    }
    pos = end;
  }
  content += text.substr(pos);
  if (out.tool_calls.empty()) out.content = text;
  else if (!Trimmed(content).empty()) out.content = Trimmed(content);
  return out;
}

}  // namespace kvfuse::server
