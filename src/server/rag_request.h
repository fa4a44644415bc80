// The RAG extension of /v1/chat/completions: one `rag` object, so that none of its fields can
// collide with an OpenAI or llama.cpp parameter (top-level `top_k` is the sampler's):
//   "rag": {"documents": [...], "collection": "name", "top_k": 6, "fusion_mode": "query",
//           "recompute_ratio": ..., "adaptive_alpha": ..., "sink_tokens": ..., "query_layers": ...,
//           "ape_temperature": ..., "ape_scale": ..., "audit": true}
// It needs `documents` or `collection` (or both); unknown keys are refused. The fields'
// former top-level spellings are refused with a 400 saying where they went. Stateless.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/openai_api.h"

namespace kvfuse::server {

// A 400 for a RAG field still sent at the top level of the body (either endpoint).
std::optional<ApiError> RefuseMovedRagFields(const nlohmann::json& body);

// Whether the body has a (non-null) `rag` object to read.
bool HasRag(const nlohmann::json& body);

// The RAG prompt of a chat completion with a `rag` object: an optional system message and one
// user message (the question); the chunks are rag.documents, then what rag.collection gives
// for the question. Sets out.generation's prompt and fusion options, out.document_ids and
// out.rag. `audit: true` asks for this request to be audited (a fused mode only; a prompt
// left without chunks, when retrieval found nothing, has nothing to audit).
std::optional<ApiError> ReadRagRequest(const nlohmann::json& body, const std::vector<engine::ChatMessage>& messages,
                                       const engine::Engine& engine, const ApiLimits& limits,
                                       const Retriever& retrieve, ParsedRequest& out);

}  // namespace kvfuse::server
