#include "cli/fusion_flags.h"

#include <sstream>

namespace kvfuse::cli {

namespace {

constexpr struct {
  const char* flag;
  engine::FusionKnob knob;
} kKnobFlags[] = {{"--ratio", engine::FusionKnob::kRecomputeRatio},
                  {"--alpha", engine::FusionKnob::kAdaptiveAlpha},
                  {"--sinks", engine::FusionKnob::kSinkTokens},
                  {"--query-layers", engine::FusionKnob::kQueryLayers},
                  {"--ape-temperature", engine::FusionKnob::kApeTemperature},
                  {"--ape-scale", engine::FusionKnob::kApeScale},
                  {"--fallback-below", engine::FusionKnob::kFallbackBelow}};

}  // namespace

util::Status RefuseKnobsNotReadBy(const Args& args, const std::vector<engine::FusionMode>& modes) {
  for (const auto& k : kKnobFlags) {
    if (!args.Has(k.flag)) continue;
    bool read = false;
    for (engine::FusionMode mode : modes) read = read || engine::ModeReadsKnob(mode, k.knob);
    if (!read) {
      std::string names;
      for (engine::FusionMode mode : modes) names += (names.empty() ? "" : ",") + std::string(engine::FusionModeName(mode));
      return util::Status::InvalidArgument(std::string(k.flag) + " does not apply to --mode " + names);
    }
  }
  return util::Status::Ok();
}

std::set<std::string> FusionKnobFlags() {
  std::set<std::string> flags;
  for (const auto& k : kKnobFlags) flags.insert(k.flag);
  return flags;
}

util::Result<engine::FusionOptions> FusionKnobsFromArgs(const Args& args) {
  engine::FusionOptions o;
  auto ratio = args.GetFloatIn("--ratio", o.recompute_ratio, 0, 1, "within [0, 1]");
  auto alpha = args.GetFloatIn("--alpha", o.adaptive_alpha, 0, 1e6, "within [0, 1e6]");
  auto sinks = args.GetInt("--sinks", o.sink_tokens);
  auto query_layers = args.GetInt("--query-layers", o.query_layers);
  auto ape_temperature = args.GetFloatIn("--ape-temperature", o.ape_temperature, 0.01, 100, "within [0.01, 100]");
  auto ape_scale = args.GetFloatIn("--ape-scale", o.ape_scale, 0, 100, "within [0, 100]");
  auto fallback_below = args.GetFloatIn("--fallback-below", o.fallback_below, 0, 1, "within [0, 1] (0: never)");
  for (const util::Status* st : {&ratio.status(), &alpha.status(), &sinks.status(), &query_layers.status(),
                                 &ape_temperature.status(), &ape_scale.status(), &fallback_below.status()})
    if (!st->ok()) return *st;
  if (args.Has("--sinks") && (sinks.value() < 0 || sinks.value() > 4096))
    return util::Status::InvalidArgument("--sinks must be 0..4096");
  if (query_layers.value() < 0 || query_layers.value() > 1024)
    return util::Status::InvalidArgument("--query-layers must be 0..1024 (0: all)");
  o.ape_temperature = static_cast<float>(ape_temperature.value());
  o.ape_scale = static_cast<float>(ape_scale.value());
  o.recompute_ratio = static_cast<float>(ratio.value());
  o.adaptive_alpha = static_cast<float>(alpha.value());
  o.sink_tokens = static_cast<int32_t>(sinks.value());
  o.query_layers = static_cast<int32_t>(query_layers.value());
  o.fallback_below = static_cast<float>(fallback_below.value());
  return o;
}

util::Result<engine::FusionOptions> FusionOptionsFromArgs(const Args& args) {
  const auto mode = engine::ParseFusionMode(args.Get("--mode", engine::FusionModeName(engine::kDefaultReuseMode)));
  if (!mode) return util::Status::InvalidArgument(std::string("--mode must be ") + engine::FusionModeList());
  KVFUSE_RETURN_IF_ERROR(RefuseKnobsNotReadBy(args, {*mode}));
  auto options = FusionKnobsFromArgs(args);
  if (options.ok()) options->mode = *mode;
  return options;
}

util::Result<std::vector<engine::FusionMode>> FusionModesFromArg(const std::string& value,
                                                                 const std::vector<engine::FusionMode>& all) {
  if (value == "all") return all;
  std::vector<engine::FusionMode> modes;
  std::stringstream list(value);
  for (std::string name; std::getline(list, name, ',');) {
    const auto mode = engine::ParseFusionMode(name);
    if (!mode)
      return util::Status::InvalidArgument("--mode must be " + std::string(engine::FusionModeList()) +
                                           ", or a comma-separated list of them");
    modes.push_back(*mode);
  }
  if (modes.empty()) return util::Status::InvalidArgument("--mode names no fusion mode");
  return modes;
}

}  // namespace kvfuse::cli
