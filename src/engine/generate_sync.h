// One prompt generated on the calling thread, start to end: the prefill (fused or not), then
// sampling until max_tokens or the end of the model's turn. For the commands that run one
// prompt at a time (run, ask, eval-qa, bench-rag); the server goes through the Scheduler.
// Threading: as the Engine's model methods (one thread at a time, no Scheduler running).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "util/status.h"

namespace kvfuse::engine {

struct SyncRequest {
  FusionOptions fusion{FusionMode::kFull};  // the reference unless a caller fuses
  SamplingParams sampling{0.0f, 1, 1.0f, 0};  // greedy
  int max_tokens = 16;
  bool stop_at_end_of_turn = true;
  std::function<void(const std::string& piece)> on_text;  // each piece of text as it completes
};

struct SyncResult {
  std::vector<int32_t> tokens;      // generated; an end-of-turn token is not included
  std::string text;                 // their text
  FusionStats stats;                // of the prefill
  std::vector<float> first_logits;  // [n_vocab] at the prompt's last position
  double ttft_ms = 0;               // prefill and choosing the first token
  double decode_ms = 0;             // the rest
};

util::Result<SyncResult> GenerateSync(Engine& engine, const SegmentedPrompt& prompt, const SyncRequest& request);

}  // namespace kvfuse::engine
