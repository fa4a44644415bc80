#include "cli/fidelity_flags.h"

#include <cmath>

namespace kvfuse::cli {

std::set<std::string> FidelityFlags() { return {"--audit-rate", "--audit-tokens", "--fidelity-target", "--fidelity-window"}; }

util::Result<server::FidelityOptions> FidelityOptionsFromArgs(const Args& args) {
  server::FidelityOptions o;
  // The flag's value within [lo, hi] (a whole number if asked).
  const auto read = [&](const char* name, double fallback, double lo, double hi, bool whole) -> util::Result<double> {
    const std::string range = util::StrFormat("%s %g..%g", whole ? "a whole number" : "a number", lo, hi);
    auto v = args.GetFloatIn(name, fallback, lo, hi, range);
    if (v.ok() && whole && v.value() != std::floor(v.value()))
      return util::Status::InvalidArgument(std::string(name) + " must be " + range);
    return v;
  };
  auto rate = read("--audit-rate", o.audit_rate, 0, 1, false);
  auto tokens = read("--audit-tokens", o.audit_tokens, 1, 256, true);
  auto target = read("--fidelity-target", o.controller.target, 0, 1, false);
  auto window = read("--fidelity-window", o.controller.window, 1, 100000, true);
  for (const auto* r : {&rate, &tokens, &target, &window})
    if (!r->ok()) return r->status();
  if (target.value() >= 1)  // every audit agreeing, forever: the share could only rise
    return util::Status::InvalidArgument("--fidelity-target must be below 1 (0 turns the controller off)");
  o.audit_rate = rate.value();
  o.audit_tokens = static_cast<int32_t>(tokens.value());
  o.controller.target = target.value();
  o.controller.window = static_cast<int>(window.value());
  return o;
}

}  // namespace kvfuse::cli
