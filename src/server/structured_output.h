// Structured output: OpenAI's response_format ({"type": "json_object"} or "json_schema" with
// its schema) and llama-server's top-level json_schema and grammar (GBNF) fields, compiled to
// a grammar that constrains the request's sampling. At most one of them per request; a schema
// keyword kvfuse cannot enforce, a grammar error or two of them at once is a 400 naming the
// field. HTTP threads.
#pragma once

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/openai_api.h"

namespace kvfuse::server {

// `ordered` is the same body with its keys in the order the client wrote them: schemas are
// read from it (the order the JSON is generated in).
std::optional<ApiError> ReadStructuredOutput(const nlohmann::json& body, const nlohmann::ordered_json& ordered,
                                             const engine::Engine& engine, engine::GenerationRequest& g);

}  // namespace kvfuse::server
