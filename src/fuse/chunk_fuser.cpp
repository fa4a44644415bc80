#include "fuse/chunk_fuser.h"

#include <chrono>
#include <cmath>

#include "fuse/fusion_methods.h"
#include "fuse/key_placement.h"
#include "util/timing.h"

namespace kvfuse::fuse {

using util::Status;

namespace {

// The methods of the modes that reuse chunk KV. folds_prefix: the method computes the prefix
// positions from MethodInput::prefix_done on in its first pass; the others get them computed.
struct Method {
  FusionMode mode;
  FusionMethod finish;
  bool folds_prefix;
};
constexpr Method kMethods[] = {{FusionMode::kNaive, FinishNaive, false},
                               {FusionMode::kBlend, FinishBlend, false},
                               {FusionMode::kGradual, FinishGradual, false},
                               {FusionMode::kAdaptive, FinishAdaptive, false},
                               {FusionMode::kSinks, FinishSinks, false},
                               {FusionMode::kQuery, FinishQuery, true},
                               {FusionMode::kApe, FinishApe, false}};

const Method& MethodOf(FusionMode mode) {
  for (const Method& m : kMethods)
    if (m.mode == mode) return m;
  KVFUSE_CHECK(false && "a mode that reuses chunk KV has no method");
  return kMethods[0];
}

}  // namespace

ChunkFuser::ChunkFuser(const model::Model& model, store::ChunkStore& store, FuserIdentity identity)
    : model_(model), source_(model, store, std::move(identity)) {}

util::Result<std::vector<int32_t>> ChunkFuser::CheckedSlots(const kv::KvManager& kv, int32_t seq, int32_t kept,
                                                             const SegmentedPrompt& prompt,
                                                             const FusionOptions& options) const {
  const int32_t n = prompt.size();
  if (n == 0) return Status::Error("empty prompt");
  if (prompt.suffix.empty() && ReusesChunkKv(options.mode))
    return Status::Error("a fused prompt needs a non-empty suffix (the question)");
  if (n > kv.n_slots())
    return Status::Error(util::StrFormat("prompt of %d tokens exceeds the context of %d", n, kv.n_slots()));
  if (kv.capacity(seq) < n) return Status::Error("the sequence has fewer KV slots than the prompt has tokens");
  if (kept < 0 || kept > KeptPrefix(prompt, options.mode, kept))  // more than the mode may keep
    return Status::Error("the kept prefix does not suit the fusion mode");
  const std::vector<int32_t> slots = kv.SlotsOf(seq, n);
  KVFUSE_RETURN_IF_ERROR(model_.Validate(BatchOf(prompt.Flatten(), 0, seq, false, &slots), kv));
  if (!(options.recompute_ratio >= 0 && options.recompute_ratio <= 1))  // NaN too
    return Status::Error("recompute ratio must be within [0, 1]");
  if (!(options.adaptive_alpha >= 0 && std::isfinite(options.adaptive_alpha)))
    return Status::Error("adaptive alpha must be a finite number >= 0");
  if (!(options.ape_temperature > 0 && std::isfinite(options.ape_temperature)) ||
      !(options.ape_scale >= 0 && std::isfinite(options.ape_scale)))
    return Status::Error("ape temperature must be a finite number > 0 and ape scale one >= 0");
  if (!(options.fallback_below >= 0 && options.fallback_below <= 1))
    return Status::Error("fallback_below must be within [0, 1]");
  return slots;
}

util::Result<std::vector<std::shared_ptr<const store::ChunkRecord>>> ChunkFuser::PlaceChunks(
    model::ForwardContext& ctx, kv::KvCache& kv, const std::vector<int32_t>& slots,
    const SegmentedPrompt& prompt, FusionStats& stats) {
  std::vector<std::shared_ptr<const store::ChunkRecord>> records(prompt.chunks.size());
  stats.chunk_from_cache.assign(prompt.chunks.size(), false);
  for (size_t i = 0; i < prompt.chunks.size(); ++i) {
    if (prompt.chunks[i].empty()) continue;
    const int32_t hits_before = stats.chunk_hits;
    auto chunk = source_.GetOrCompute(ctx, prompt.chunks[i], stats);
    if (!chunk.ok()) return chunk.status();
    stats.chunk_from_cache[i] = stats.chunk_hits > hits_before;
    records[i] = std::move(chunk).value();
    if (ctx.layer_gate)  // a stepped prefill budgets the placement too
      ctx.layer_gate->BeforeWork(PlacementTokenLayers(records[i]->n_tokens(), model_.hparams().n_layers));
    const auto t_place = std::chrono::steady_clock::now();
    Place(model_.hparams(), ctx, *records[i], kv, slots, prompt.ChunkOffset(i));
    stats.ms_place += util::MsSince(t_place);
    stats.chunk_tokens += static_cast<int32_t>(prompt.chunks[i].size());
  }
  return records;
}

Status ChunkFuser::Prefill(model::ForwardContext& ctx, kv::KvManager& kv, int32_t seq, int32_t kept,
                           const SegmentedPrompt& prompt, const FusionOptions& options, std::vector<float>& logits,
                           FusionStats& stats) {
  stats = FusionStats{};
  stats.prompt_tokens = prompt.size();
  auto checked = CheckedSlots(kv, seq, kept, prompt, options);
  if (!checked.ok()) return checked.status();
  const std::vector<int32_t>& slots = checked.value();
  stats.prefix_reused = kept;
  if (ModeReadsKnob(options.mode, FusionKnob::kRecomputeRatio)) stats.recompute_ratio = options.recompute_ratio;
  kv.SetContextReshape(seq, std::nullopt);  // a prefill starts with plain attention (ape sets its own)
  const PrefillTarget target{model_, ctx, kv, seq, slots};
  if (!ReusesChunkKv(options.mode)) {
    PrefillExactly(target, source_, prompt, options, kept, logits, stats);
    return Status::Ok();
  }

  const auto t0 = std::chrono::steady_clock::now();
  const int32_t prefix_n = static_cast<int32_t>(prompt.prefix.size());
  const Method& method = MethodOf(options.mode);
  const int32_t prefix_done = method.folds_prefix ? kept : prefix_n;
  ComputeTokens(target, std::vector<int32_t>(prompt.prefix.begin() + kept, prompt.prefix.begin() + prefix_done), kept,
                nullptr);
  stats.tokens_computed = prefix_n - kept;
  const double ms_prefix = util::MsSince(t0);
  auto records = PlaceChunks(ctx, kv.cache(), slots, prompt, stats);
  if (!records.ok()) return records.status();
  const auto t1 = std::chrono::steady_clock::now();
  method.finish(MethodInput{target, prompt, options, records.value(), prefix_done}, logits, stats);
  RedoInFullIfUnsure(target, prompt, options, logits, stats);
  stats.ms_forward = ms_prefix + util::MsSince(t1);
  return Status::Ok();
}

}  // namespace kvfuse::fuse
