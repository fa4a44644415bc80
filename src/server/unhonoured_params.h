// The OpenAI request parameters kvfuse does not implement (llama.cpp's other samplers, the
// legacy completion extras echo/suffix/best_of, the deprecated functions, n_probs on /v1).
// The project's rule is that no parameter is dropped silently: a value that asks for nothing
// (echo false, mirostat 0, n_probs 0, ...) is accepted, anything else is refused with a 400
// naming the parameter, so a client learns at once that it would not get what it asked for.
// Stateless: any thread.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "server/openai_api.h"

namespace kvfuse::server {

// chat: the body of /v1/chat/completions, else of /v1/completions (whose logprobs is a number).
std::optional<ApiError> RefuseUnhonoured(const nlohmann::json& body, bool chat);

enum class ApiEndpoint { kChat, kCompletions, kEmbeddings, kTokenize, kDetokenize };
// A top-level field the endpoint does not know (honoured or in the table above) is refused
// with a 400 naming it, as OpenAI's API does, rather than ignored: a llama.cpp sampler option
// kvfuse lacks (mirostat, typical_p, ...) or a misspelling would otherwise change nothing.
// `model` and `user`, where taken, must be strings.
std::optional<ApiError> RefuseUnknown(const nlohmann::json& body, ApiEndpoint endpoint);

}  // namespace kvfuse::server
