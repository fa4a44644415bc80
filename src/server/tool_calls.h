// Tool (function) calling on /v1/chat/completions: the request's tools and tool_choice, the
// grammar that forces a call, and the calls parsed out of the generated text.
// The call syntax is the model's: Llama 3.x's JSON ({"name": ..., "parameters": {...}}) when
// its template speaks of ipython, else Hermes/Qwen <tool_call> blocks ({"name": ...,
// "arguments": {...}}), which engine/chat_tools teaches a template that has no tools of its own.
// tool_choice "auto" lets the model choose and parses what it wrote; "required" or a named
// function forces a call through the grammar (each tool's parameters schema included); "none"
// renders the tools and parses nothing. HTTP threads; stateless.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/openai_api.h"

namespace kvfuse::server {

struct ToolRequest {
  nlohmann::ordered_json tools = nlohmann::ordered_json::array();  // as the client sent them
  bool parse = false;   // tool calls are read out of the answer
  std::string forced;   // "": the model chooses; "*": some tool; else that tool's name
  bool parallel = true;  // more than one call per answer
  ToolSyntax syntax = ToolSyntax::kHermes;
  // chat_template_kwargs (vLLM's and llama-server's): more variables for the chat template,
  // such as Qwen 3's enable_thinking.
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();
};

// tools, tool_choice, parallel_tool_calls and chat_template_kwargs of `ordered` (the body in
// the client's key order); a malformed tool, a tool_choice naming no tool or a kwarg that would
// replace one of the template's own variables is a 400 naming the field.
std::variant<ToolRequest, ApiError> ReadTools(const nlohmann::ordered_json& ordered, const engine::Engine& engine);

// The GBNF that makes the answer a call (of `forced`, or of any tool), in the model's syntax.
std::variant<std::string, ApiError> ForcedCallGbnf(const ToolRequest& tools);

// Whether the chat must go through the JSON rendering (tools, template kwargs, or a message
// with calls).
bool NeedsToolRendering(const nlohmann::ordered_json& ordered, const ToolRequest& tools);
// The prompt of a chat with tools: `ordered`'s messages (content flattened to text, calls and
// results kept) and tools through the model's template (Engine::RenderChatJson).
std::variant<std::string, ApiError> RenderToolChat(const nlohmann::ordered_json& ordered, const ToolRequest& tools,
                                                   const engine::Engine& engine);

// All of the above for one chat request: sets out.tool_calls (when calls are to be parsed)
// and, for a forced call, the grammar on out.generation; returns the prompt's text when the
// chat goes through the JSON rendering (nullopt: the plain chat template will do).
std::variant<std::optional<std::string>, ApiError> ReadToolChat(const nlohmann::json& body,
                                                                const nlohmann::ordered_json& ordered,
                                                                const engine::Engine& engine, ParsedRequest& out);

struct ToolCallAnswer {
  std::optional<std::string> content;  // null when the answer is calls only
  nlohmann::json tool_calls = nlohmann::json::array();  // OpenAI's: id, type, function {name, arguments}
};
// The calls in `text` written in `syntax`; text that is not a well-formed call stays content.
// `id_prefix` makes each call's id unique within the answer.
ToolCallAnswer ParseToolCalls(const std::string& text, ToolSyntax syntax, const std::string& id_prefix);

}  // namespace kvfuse::server
