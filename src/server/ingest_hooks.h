// The hooks that ingest documents into a collection with a loaded engine: token counts, the
// embedding of each chunk at `embed_layer`, and (warm) each chunk's KV pre-computed into the
// engine's chunk store. `on_model` runs each call that needs the model: at once (kvfuse
// ingest) or between scheduler iterations (the server, Scheduler::RunExclusive).
// Threading: the hooks run on the ingesting thread; token counts use the tokenizer there (any
// thread may), everything else goes through `on_model`. `engine` must outlive the hooks.
#pragma once

#include <functional>

#include "engine/engine.h"
#include "rag/collection.h"

namespace kvfuse::server {

using ModelRunner = std::function<void(const std::function<void()>&)>;

rag::IngestHooks EngineIngestHooks(engine::Engine& engine, int32_t embed_layer, bool warm, ModelRunner on_model);

}  // namespace kvfuse::server
