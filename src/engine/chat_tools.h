// Tool calling for chat templates that do not render tools themselves (ChatML, the demo
// model's): the Hermes format that Qwen's templates use. The tools are described in the system
// message, an assistant's calls become <tool_call> blocks in its content, and tool results
// become user messages of <tool_response> blocks, so that any template renders them as text
// and the model is asked to answer calls in the form server/tool_calls parses.
// Threading: pure functions.
#pragma once

#include <nlohmann/json.hpp>

namespace kvfuse::engine {

// A call's arguments as templates expect them: JSON text (OpenAI's form) parsed into its
// object (kept as text when it nests deeper than util::kMaxJsonDepth: copying or printing it
// would recurse past the stack); anything else as it is.
nlohmann::ordered_json CallArguments(const nlohmann::ordered_json& arguments);

// `messages` (OpenAI-shaped, content already a string or null, a call's arguments an object
// or JSON text) with `tools` written in.
nlohmann::ordered_json MessagesWithHermesTools(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools);

}  // namespace kvfuse::engine
