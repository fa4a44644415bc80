#include "engine/chat_tools.h"

#include <string>

#include "engine/engine.h"
#include "tokenizer/jinja/json_value.h"
#include "util/json_depth.h"

namespace kvfuse::engine {

using nlohmann::ordered_json;

namespace {

std::string ToolsPrompt(const ordered_json& tools) {
  std::string text =
      "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
      "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
  for (const ordered_json& tool : tools) text += "\n" + tool.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  return text +
         "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
         "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
         "</tool_call>";
}

std::string ContentOf(const ordered_json& m) {
  return m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "";
}

}  // namespace

ordered_json CallArguments(const ordered_json& arguments) {
  if (!arguments.is_string()) return arguments;
  // Nested deeper, the parsed object's copy and dump would recurse past the stack.
  if (util::JsonNestingDepth(arguments.get_ref<const std::string&>(), util::kMaxJsonDepth) > util::kMaxJsonDepth)
    return arguments;
  ordered_json parsed = ordered_json::parse(arguments.get<std::string>(), nullptr, false);
  return parsed.is_object() ? parsed : arguments;
}

ordered_json MessagesWithHermesTools(const ordered_json& messages, const ordered_json& tools) {
  ordered_json out = ordered_json::array();
  if (!tools.empty()) {
    const bool has_system = !messages.empty() && messages[0].value("role", "") == "system";
    const std::string system = has_system ? ContentOf(messages[0]) + "\n\n" : "";
    out.push_back({{"role", "system"}, {"content", system + ToolsPrompt(tools)}});
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ordered_json& m = messages[i];
    const std::string role = m.value("role", "");
    if (i == 0 && role == "system" && !tools.empty()) continue;  // merged above
    if (role == "assistant" && m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty()) {
      std::string content = ContentOf(m);
      for (const ordered_json& call : m["tool_calls"]) {
        const ordered_json f = call.is_object() ? call.value("function", ordered_json::object()) : ordered_json::object();
        const std::string name = f.contains("name") && f["name"].is_string() ? f["name"].get<std::string>() : "";
        const ordered_json body = {{"name", name}, {"arguments", CallArguments(f.value("arguments", ordered_json::object()))}};
        content += (content.empty() ? "" : "\n") + std::string("<tool_call>\n") + body.dump() + "\n</tool_call>";
      }
      out.push_back({{"role", "assistant"}, {"content", content}});
    } else if (role == "tool") {
      const std::string response = "<tool_response>\n" + ContentOf(m) + "\n</tool_response>";
      if (!out.empty() && out.back()["role"] == "user" && i > 0 && messages[i - 1].value("role", "") == "tool")
        out.back()["content"] = out.back()["content"].get<std::string>() + "\n" + response;
      else out.push_back({{"role", "user"}, {"content", response}});
    } else {
      out.push_back({{"role", role}, {"content", ContentOf(m)}});
    }
  }
  return out;
}

bool Engine::TemplateRendersTools() const {
  return chat_template_.ok() && chat_template_->source().find("tools") != std::string::npos;
}

util::Result<std::string> Engine::RenderChatJson(const ordered_json& messages, const ordered_json& tools,
                                                 const ordered_json& extra) const {
  if (!tokenizer_) return util::Status::Error("cannot tokenize: " + tokenizer_error_);
  if (!chat_template_.ok()) return chat_template_.status();
  const tokenizer::Vocab& v = tokenizer_->vocab();
  const bool own = TemplateRendersTools();
  const ordered_json rendered = own ? messages : MessagesWithHermesTools(messages, tools);
  tokenizer::jinja::Dict variables = {
      {"messages", tokenizer::jinja::ValueFromJson(rendered)},
      {"tools", own && !tools.empty() ? tokenizer::jinja::ValueFromJson(tools) : tokenizer::jinja::Value::MakeNone()},
      {"add_generation_prompt", tokenizer::jinja::Value(true)},
      {"bos_token", tokenizer::jinja::Value(v.bos_id >= 0 ? v.tokens[v.bos_id] : "")},
      {"eos_token", tokenizer::jinja::Value(v.eos_id >= 0 ? v.tokens[v.eos_id] : "")},
      {"documents", tokenizer::jinja::Value::MakeNone()},
  };
  for (const auto& [key, value] : extra.items()) {
    for (const auto& [name, unused] : variables)
      if (name == key) return util::Status::InvalidArgument("the template variable '" + key + "' is set by the server");
    variables.emplace_back(key, tokenizer::jinja::ValueFromJson(value));
  }
  return chat_template_->Render(variables);
}

}  // namespace kvfuse::engine
