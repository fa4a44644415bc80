#include "fuse/fusion_options.h"

namespace kvfuse::fuse {

namespace {
constexpr struct {
  FusionMode mode;
  const char* name;
} kModes[] = {{FusionMode::kFull, "full"},
              {FusionMode::kPrefix, "prefix"},
              {FusionMode::kNaive, "naive"},
              {FusionMode::kBlend, "blend"},
              {FusionMode::kAdaptive, "adaptive"}};
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

bool ReusesChunkKv(FusionMode mode) {
  return mode == FusionMode::kNaive || mode == FusionMode::kBlend || mode == FusionMode::kAdaptive;
}

}  // namespace kvfuse::fuse
