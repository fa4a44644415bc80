#include "server/ingest_hooks.h"

#include "engine/rag_prompt.h"

namespace kvfuse::server {

rag::IngestHooks EngineIngestHooks(engine::Engine& engine, int32_t embed_layer, bool warm, ModelRunner on_model) {
  rag::IngestHooks hooks;
  hooks.model_fingerprint = engine.model_fingerprint();
  hooks.embed_layer = embed_layer;
  engine::Engine* e = &engine;
  hooks.count_tokens = [e](std::string_view text) { return static_cast<int32_t>(e->tokenizer()->Encode(text, false).size()); };
  hooks.embed = [e, embed_layer, on_model](const std::string& text) {
    util::Result<std::vector<float>> v = util::Status::Internal("not run");
    on_model([&] { v = e->EmbedText(text, embed_layer); });
    return v;
  };
  if (warm)
    hooks.warm = [e, on_model](const rag::CollectionChunk& c) -> util::Status {
      auto tokens = engine::ChunkSegmentTokens(*e, c.text);
      if (!tokens.ok()) return tokens.status();
      util::Status s = util::Status::Internal("not run");
      on_model([&] { s = e->WarmChunk(tokens.value()); });
      return s;
    };
  return hooks;
}

}  // namespace kvfuse::server
