// Adaptive fusion (Cache-Craft) reuses chunks cached inside earlier prompts; the benchmarks
// create them by prefilling such prompts in full first.
#pragma once

#include <vector>

#include "engine/engine.h"
#include "util/status.h"

namespace kvfuse::cli {

// Prefills each prompt in full, in order, recording its chunks' KV in their prompt context
// (replacing the chunks cached alone). Leaves the engine's sequences and prefix cache as
// the prefills left them.
util::Status RecordChunkVariants(engine::Engine& e, const std::vector<engine::SegmentedPrompt>& prompts);

}  // namespace kvfuse::cli
