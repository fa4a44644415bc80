// RAG prompts in the model's own chat template, as SegmentedPrompts: a system message, then
// one user message holding the chunks, each "Document: TEXT\n" tokenized on its own (so its
// ids, and its cached KV, do not depend on its neighbours), and "Question: QUESTION".
// The bundled demo model was trained on exactly this layout (tools/demo/train.py).
#pragma once

#include <string>
#include <vector>

#include "engine/engine.h"

namespace kvfuse::engine {

inline constexpr char kDefaultRagSystemPrompt[] = "Answer the question from the documents.";

// The tokens of one chunk segment.
util::Result<std::vector<int32_t>> ChunkSegmentTokens(const Engine& engine, const std::string& chunk_text);

util::Result<SegmentedPrompt> BuildRagPrompt(const Engine& engine, const std::string& system,
                                             const std::vector<std::string>& chunk_texts,
                                             const std::string& question);

}  // namespace kvfuse::engine
