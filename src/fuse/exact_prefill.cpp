// full and prefix: the exact prefill, every token after the kept prefix through every
// layer; full may also record the prompt's chunks for adaptive. A fused prefill unsure of
// its first token falls back on it.
#include "fuse/fusion_methods.h"
#include "util/log_sum_exp.h"
#include "util/timing.h"

namespace kvfuse::fuse {

namespace {

// Attention statistics with one segment per chunk (prefix and suffix are not counted).
model::AttentionRecorder ChunkRecorder(const SegmentedPrompt& prompt, int n_heads) {
  model::AttentionRecorder r;
  r.n_segments = static_cast<int>(prompt.chunks.size());
  r.n_heads = n_heads;
  r.segment_of_pos.assign(prompt.size(), -1);
  for (size_t i = 0; i < prompt.chunks.size(); ++i)
    for (size_t j = 0; j < prompt.chunks[i].size(); ++j)
      r.segment_of_pos[prompt.ChunkOffset(i) + j] = static_cast<int32_t>(i);
  r.Reset(prompt.size());
  return r;
}

}  // namespace

void PrefillExactly(const PrefillTarget& t, ChunkSource& source, const SegmentedPrompt& prompt,
                    const FusionOptions& options, int32_t kept, std::vector<float>& logits, FusionStats& stats) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int32_t> tokens = prompt.Flatten();
  const bool record = options.record_chunks && options.mode == FusionMode::kFull && !prompt.chunks.empty();
  model::AttentionRecorder recorder;
  if (record) {
    recorder = ChunkRecorder(prompt, t.model.hparams().n_heads);
    t.ctx.recorder = &recorder;
  }
  ComputeTokens(t, std::vector<int32_t>(tokens.begin() + kept, tokens.end()), kept, &logits);
  t.ctx.recorder = nullptr;
  stats.tokens_computed = prompt.size() - kept;
  stats.ms_forward = util::MsSince(t0);
  if (record) RecordChunks(t, source, prompt, recorder);
}

void RedoInFullIfUnsure(const PrefillTarget& t, const SegmentedPrompt& prompt, const FusionOptions& options,
                        std::vector<float>& logits, FusionStats& stats) {
  if (options.fallback_below <= 0 ||
      util::TopProbability(logits.data(), static_cast<int32_t>(logits.size())) >= options.fallback_below)
    return;
  t.kv.SetContextReshape(t.seq, std::nullopt);  // ape's: the exact prefill attends plainly
  const auto prefix_n = static_cast<int32_t>(prompt.prefix.size());  // exact under every method
  const std::vector<int32_t> tokens = prompt.Flatten();
  ComputeTokens(t, std::vector<int32_t>(tokens.begin() + prefix_n, tokens.end()), prefix_n, &logits);
  stats.fell_back = true;
  stats.chunk_tokens_recomputed += stats.chunk_tokens;
  stats.tokens_computed += static_cast<int32_t>(prompt.suffix.size());
}

}  // namespace kvfuse::fuse
