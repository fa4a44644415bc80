// Splits a Document into token-bounded, sentence-aware chunks: each paragraph is packed
// sentence by sentence up to max_tokens (a sentence too long for one chunk is cut between
// words), consecutive chunks of a paragraph share up to overlap_tokens of whole trailing
// sentences, and a chunk below min_tokens is merged into the next one of its section when
// they fit together. Paragraphs do not otherwise share chunks, so a chunk never mixes sections.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "rag/document.h"
#include "util/status.h"

namespace kvfuse::rag {

struct ChunkOptions {
  int32_t max_tokens = 128;
  int32_t overlap_tokens = 16;
  int32_t min_tokens = 8;
};

struct TextChunk {
  std::string heading;
  std::string text;
  int32_t n_tokens = 0;
};

// Tokens the model's tokenizer makes of a text (without BOS).
using TokenCounter = std::function<int32_t(std::string_view)>;

util::Status ValidateChunkOptions(const ChunkOptions& options);

// Sentences of one paragraph, each with its closing punctuation; whitespace between them dropped.
std::vector<std::string> SplitSentences(std::string_view text);

std::vector<TextChunk> ChunkDocument(const Document& doc, const ChunkOptions& options,
                                     const TokenCounter& count_tokens);

}  // namespace kvfuse::rag
