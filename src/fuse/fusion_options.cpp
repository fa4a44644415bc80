#include "fuse/fusion_options.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>

namespace kvfuse::fuse {

namespace {
constexpr struct {
  FusionMode mode;
  const char* name;
} kModes[] = {{FusionMode::kFull, "full"},
              {FusionMode::kPrefix, "prefix"},
              {FusionMode::kNaive, "naive"},
              {FusionMode::kBlend, "blend"},
              {FusionMode::kGradual, "gradual"},
              {FusionMode::kAdaptive, "adaptive"},
              {FusionMode::kSinks, "sinks"},
              {FusionMode::kQuery, "query"},
              {FusionMode::kApe, "ape"}};
}  // namespace

std::optional<FusionMode> ParseFusionMode(std::string_view name) {
  for (const auto& m : kModes)
    if (name == m.name) return m.mode;
  return std::nullopt;
}

const char* FusionModeName(FusionMode mode) {
  for (const auto& m : kModes)
    if (mode == m.mode) return m.name;
  return "?";
}

const char* FusionModeList() {
  static const std::string list = [] {
    std::string s;
    const size_t n = std::size(kModes);
    for (size_t i = 0; i < n; ++i) s += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + kModes[i].name;
    return s;
  }();
  return list.c_str();
}

bool ReusesChunkKv(FusionMode mode) { return mode != FusionMode::kFull && mode != FusionMode::kPrefix; }

bool ModeReadsKnob(FusionMode mode, FusionKnob knob) {
  switch (knob) {
    case FusionKnob::kRecomputeRatio:
      return mode == FusionMode::kBlend || mode == FusionMode::kGradual || mode == FusionMode::kQuery;
    case FusionKnob::kAdaptiveAlpha: return mode == FusionMode::kAdaptive;
    case FusionKnob::kSinkTokens: return mode == FusionMode::kSinks || mode == FusionMode::kQuery;
    case FusionKnob::kQueryLayers: return mode == FusionMode::kQuery;
    case FusionKnob::kApeTemperature:
    case FusionKnob::kApeScale: return mode == FusionMode::kApe;
    case FusionKnob::kFallbackBelow: return ReusesChunkKv(mode);
  }
  return false;
}

bool IsDefaultFusion(const FusionOptions& o) {
  const FusionOptions d;
  return o.mode == d.mode && o.recompute_ratio == d.recompute_ratio && o.bottom_right_mask == d.bottom_right_mask &&
         o.adaptive_alpha == d.adaptive_alpha && o.sink_tokens == d.sink_tokens && o.query_layers == d.query_layers &&
         o.ape_temperature == d.ape_temperature && o.ape_scale == d.ape_scale && o.fallback_below == d.fallback_below &&
         o.record_chunks == d.record_chunks;
}

int32_t RecomputedCount(float ratio, int32_t n) {
  return std::clamp(static_cast<int32_t>(std::ceil(ratio * n)), 0, n);
}

int32_t KeptPrefix(const SegmentedPrompt& prompt, FusionMode mode, int32_t cached) {
  int32_t kept = cached;
  if (mode == FusionMode::kFull) kept = 0;
  if (ReusesChunkKv(mode)) kept = std::min<int32_t>(kept, static_cast<int32_t>(prompt.prefix.size()));
  return std::max(0, std::min(kept, prompt.size() - 1));
}

}  // namespace kvfuse::fuse
