#include "fuse/fusion_options.h"

#include <algorithm>
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
              {FusionMode::kAdaptive, "adaptive"},
              {FusionMode::kSinks, "sinks"},
              {FusionMode::kQuery, "query"}};
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

int32_t KeptPrefix(const SegmentedPrompt& prompt, FusionMode mode, int32_t cached) {
  int32_t kept = cached;
  if (mode == FusionMode::kFull) kept = 0;
  if (ReusesChunkKv(mode)) kept = std::min<int32_t>(kept, static_cast<int32_t>(prompt.prefix.size()));
  return std::max(0, std::min(kept, prompt.size() - 1));
}

}  // namespace kvfuse::fuse
