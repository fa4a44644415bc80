// The fusion flags of every command that fuses (ask, eval-qa, bench-rag): --mode and each
// method's knobs, read into FusionOptions with their ranges checked, so that a knob is
// never accepted and then ignored.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "cli/args.h"
#include "engine/engine.h"

namespace kvfuse::cli {

// --ratio R (blend, gradual, query), --alpha A (adaptive), --sinks K (sinks, query),
// --query-layers L (query), --ape-temperature T and --ape-scale S (ape); --mode is each
// command's own (some take a list).
std::set<std::string> FusionKnobFlags();
// The knobs, over FusionOptions' defaults.
util::Result<engine::FusionOptions> FusionKnobsFromArgs(const Args& args);
// One mode (--mode, default the default reuse mode) with its knobs; a knob flag the mode does
// not read is an error (it would be ignored). For commands that run one mode.
util::Result<engine::FusionOptions> FusionOptionsFromArgs(const Args& args);
// An error naming a knob flag that none of `modes` reads (it would be ignored).
util::Status RefuseKnobsNotReadBy(const Args& args, const std::vector<engine::FusionMode>& modes);
// --mode's value as a comma-separated list of modes ("all": `all`).
util::Result<std::vector<engine::FusionMode>> FusionModesFromArg(const std::string& value,
                                                                 const std::vector<engine::FusionMode>& all);

}  // namespace kvfuse::cli
