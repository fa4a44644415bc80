// The OpenAI-compatible requests: parsing and validating a completion request into a
// GenerationRequest, and the error body. The answers' bodies are completion_reply's; the
// parameters kvfuse does not implement are refused by unhonoured_params; the RAG extension
// (the `rag` object of a chat completion) is read by rag_request.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/completion_reply.h"

namespace kvfuse::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field, when there is one
};

nlohmann::json ErrorBody(const ApiError& e);

struct ApiLimits {
  int32_t max_prompt_tokens = 0;   // the context less the tokens to generate
  int32_t default_max_tokens = 256;
  size_t max_documents = 64;
};

// Choices one request may ask for (`n`).
constexpr int kMaxChoices = 16;

// What the fidelity monitor needs of a RAG request (the `rag` object).
struct RagRequestInfo {
  std::string collection;     // rag.collection, "" when only documents were sent
  std::string question;
  bool share_given = false;   // rag.recompute_ratio was sent
  bool audit = false;         // rag.audit: true
};

struct ParsedRequest {
  engine::GenerationRequest generation;
  std::optional<ToolSyntax> tool_calls;  // set when calls are to be read out of the answer
  bool parallel_tool_calls = true;       // more than one call per answer
  int n = 1;  // choices: n generations of the prompt, choice i sampled with seed + i
  bool stream = false;
  StreamUsage stream_usage = StreamUsage::kOnFinishChunk;
  std::vector<std::string> document_ids;  // of the chunk segments, in prompt order
  std::optional<RagRequestInfo> rag;      // set for a request with a `rag` object
};

// Chunk texts and their ids for a collection query (server-side retrieval).
struct RetrievedChunks {
  std::vector<std::string> ids, texts;
};
using Retriever = std::function<std::variant<RetrievedChunks, ApiError>(const std::string& collection,
                                                                         const std::string& query, int top_k)>;

// Message content: a string, or an array of {"type": "text", "text": ...} parts, as text.
std::optional<std::string> ContentText(const nlohmann::json& content);

// A request's `messages` as the chat template takes them (role and content).
std::variant<std::vector<engine::ChatMessage>, ApiError> ReadMessages(const nlohmann::json& body);

// chat: /v1/chat/completions (messages), else /v1/completions (prompt). `raw_body` is the
// text `body` was parsed from (structured output reads schemas from it in the client's order).
std::variant<ParsedRequest, ApiError> ParseCompletionRequest(const nlohmann::json& body, std::string_view raw_body,
                                                             bool chat, const engine::Engine& engine,
                                                             const ApiLimits& limits, const Retriever& retrieve);

}  // namespace kvfuse::server
