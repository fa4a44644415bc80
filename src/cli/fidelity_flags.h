// serve's audit and fidelity flags: --audit-rate R (share of fused requests audited against a
// full prefill, 0..1), --audit-tokens N (greedy tokens compared, 1..256), --fidelity-target T
// (top-1 agreement the recompute share is kept at, 0 < T < 1; 0 turns the controller off),
// --fidelity-window N (audits per decision).
#pragma once

#include <set>
#include <string>

#include "cli/args.h"
#include "server/fidelity_monitor.h"

namespace kvfuse::cli {

std::set<std::string> FidelityFlags();
// The options the flags ask for; an error names the flag and its range.
util::Result<server::FidelityOptions> FidelityOptionsFromArgs(const Args& args);

}  // namespace kvfuse::cli
