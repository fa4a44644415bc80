// The parts of grammar.h that do not parse: matching one element, checking a grammar.
#include <algorithm>
#include <functional>

#include "sched/grammar/grammar.h"

namespace kvfuse::sched::grammar {

bool Element::Matches(uint32_t cp) const {
  const bool in = std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) { return r.first <= cp && cp <= r.second; });
  return in != negated;
}

bool Element::MatchesSomeOf(uint32_t lo, uint32_t hi) const {
  if (!negated)
    return std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) { return r.first <= hi && lo <= r.second; });
  // Negated: some code point of [lo, hi] lies outside every range.
  std::vector<std::pair<uint32_t, uint32_t>> sorted(ranges);
  std::sort(sorted.begin(), sorted.end());
  uint32_t next = lo;  // the lowest code point of [lo, hi] not yet known to be covered
  for (const auto& [a, b] : sorted) {
    if (a > next) break;
    if (b >= next) {
      if (b >= hi) return false;
      next = b + 1;
    }
  }
  return next <= hi;
}

namespace {

// Which rules can match the empty string, in time linear in the grammar's size: each
// alternative counts its rule references not yet known nullable, and a rule found nullable
// lowers the count of every alternative that names it. (A pass over all rules until nothing
// changed cost rules x elements: seconds for a 60 KB grammar of a long chain.)
std::vector<bool> NullableRules(const Grammar& g) {
  const size_t n = g.rules.size();
  std::vector<bool> nullable(n, false);
  std::vector<int32_t> rule_of_alt, left;  // per alternative: its rule, its references not yet nullable
  std::vector<std::vector<int32_t>> named_in(n);  // per rule: the alternatives naming it, once per reference
  std::vector<int32_t> found;
  for (size_t r = 0; r < n; ++r)
    for (const Sequence& alt : g.rules[r].alternatives) {
      const auto id = static_cast<int32_t>(rule_of_alt.size());
      const bool only_rules =
          std::all_of(alt.begin(), alt.end(), [](const Element& e) { return e.kind == Element::Kind::kRule; });
      rule_of_alt.push_back(static_cast<int32_t>(r));
      left.push_back(only_rules ? static_cast<int32_t>(alt.size()) : -1);  // -1: a character, never empty
      if (only_rules)
        for (const Element& e : alt) named_in[e.rule].push_back(id);
      if (left.back() == 0 && !nullable[r]) {
        nullable[r] = true;
        found.push_back(static_cast<int32_t>(r));
      }
    }
  while (!found.empty()) {
    const int32_t q = found.back();
    found.pop_back();
    for (int32_t alt : named_in[q]) {
      const int32_t r = rule_of_alt[alt];
      if (--left[alt] == 0 && !nullable[r]) {
        nullable[r] = true;
        found.push_back(r);
      }
    }
  }
  return nullable;
}

}  // namespace

// A rule that can reach itself before it consumes a character would expand forever.
util::Status CheckNoLeftRecursion(const Grammar& g) {
  const size_t n = g.rules.size();
  const std::vector<bool> nullable = NullableRules(g);
  std::vector<std::vector<int32_t>> leftmost(n);  // rules reachable before any character
  for (size_t r = 0; r < n; ++r)
    for (const Sequence& alt : g.rules[r].alternatives)
      for (const Element& e : alt) {
        if (e.kind != Element::Kind::kRule) break;
        leftmost[r].push_back(e.rule);
        if (!nullable[e.rule]) break;
      }
  std::vector<int> state(n, 0);  // 0 unseen, 1 on the path, 2 done
  std::function<void(int32_t)> visit = [&](int32_t r) {
    state[r] = 1;
    for (int32_t next : leftmost[r]) {
      if (state[next] == 1) throw g.rules[next].name;
      if (state[next] == 0) visit(next);
    }
    state[r] = 2;
  };
  try {
    for (size_t r = 0; r < n; ++r)
      if (state[r] == 0) visit(static_cast<int32_t>(r));
  } catch (const std::string& name) {
    return util::Status::InvalidArgument("grammar: rule '" + name + "' is left-recursive");
  }
  return util::Status::Ok();
}

}  // namespace kvfuse::sched::grammar
