#include "engine/rag_prompt.h"

namespace kvfuse::engine {
namespace {
// Stands for the chunks while the template renders; cannot occur in a rendered message.
constexpr char kChunksMarker[] = "\x1f\x1e<kvfuse-chunks>\x1e\x1f";
}  // namespace

util::Result<std::vector<int32_t>> ChunkSegmentTokens(const Engine& engine, const std::string& chunk_text) {
  if (!engine.tokenizer()) return util::Status::Error("cannot tokenize: " + engine.tokenizer_error());
  return engine.tokenizer()->Encode("Document: " + chunk_text + "\n", /*add_special=*/false);
}

util::Result<SegmentedPrompt> BuildRagPrompt(const Engine& engine, const std::string& system,
                                             const std::vector<std::string>& chunk_texts,
                                             const std::string& question) {
  if (question.find(kChunksMarker) != std::string::npos || system.find(kChunksMarker) != std::string::npos)
    return util::Status::Error("the question contains reserved control characters");
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system});
  messages.push_back({"user", std::string(kChunksMarker) + "Question: " + question});
  auto text = engine.RenderChat(messages, /*add_generation_prompt=*/true);
  if (!text.ok()) return text.status();
  const size_t at = text->find(kChunksMarker);
  if (at == std::string::npos) return util::Status::Error("the chat template dropped the user message");
  SegmentedPrompt prompt;
  auto prefix = engine.EncodeRendered(text->substr(0, at));
  if (!prefix.ok()) return prefix.status();
  prompt.prefix = std::move(prefix).value();
  for (const std::string& c : chunk_texts) {
    auto tokens = ChunkSegmentTokens(engine, c);
    if (!tokens.ok()) return tokens.status();
    prompt.chunks.push_back(std::move(tokens).value());
  }
  prompt.suffix = engine.tokenizer()->Encode(text->substr(at + sizeof(kChunksMarker) - 1), false, true);
  return prompt;
}

}  // namespace kvfuse::engine
