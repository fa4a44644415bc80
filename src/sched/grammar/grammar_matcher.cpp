#include "sched/grammar/grammar_matcher.h"

#include <algorithm>

namespace kvfuse::sched::grammar {

namespace {

// Ambiguous grammars keep several stacks at once; past this many, the rest are dropped (the
// text can still only go where one of the kept stacks allows).
constexpr size_t kMaxStacks = 4096;

size_t SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 0;  // a continuation byte or 0xF8..0xFF cannot start a character
}

}  // namespace

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar) : g_(std::move(grammar)) {
  for (int32_t a = 0; a < static_cast<int32_t>(g_->rules[g_->root].alternatives.size()); ++a)
    Expand({{g_->root, a, 0}}, &stacks_);
  std::sort(stacks_.begin(), stacks_.end());
  stacks_.erase(std::unique(stacks_.begin(), stacks_.end()), stacks_.end());
}

const Element& GrammarMatcher::Top(const Stack& s) const {
  const Pos& p = s.back();
  return g_->rules[p.rule].alternatives[p.alt][p.idx];
}

void GrammarMatcher::Expand(Stack s, std::vector<Stack>* out) const {
  while (!s.empty()) {
    const Pos p = s.back();
    const Sequence& seq = g_->rules[p.rule].alternatives[p.alt];
    if (p.idx >= static_cast<int32_t>(seq.size())) {  // this alternative is done: back to its caller
      s.pop_back();
      continue;
    }
    const Element& e = seq[p.idx];
    if (e.kind == Element::Kind::kChars) break;
    ++s.back().idx;  // where the caller goes on once the referenced rule is done
    for (int32_t a = 0; a < static_cast<int32_t>(g_->rules[e.rule].alternatives.size()); ++a) {
      Stack t = s;
      t.push_back({e.rule, a, 0});
      Expand(std::move(t), out);
    }
    return;
  }
  if (out->size() < kMaxStacks) out->push_back(std::move(s));
}

std::vector<GrammarMatcher::Stack> GrammarMatcher::Step(const std::vector<Stack>& stacks, uint32_t cp) const {
  std::vector<Stack> next;
  for (const Stack& s : stacks) {
    if (s.empty() || !Top(s).Matches(cp)) continue;
    Stack t = s;
    ++t.back().idx;
    Expand(std::move(t), &next);
  }
  std::sort(next.begin(), next.end());
  next.erase(std::unique(next.begin(), next.end()), next.end());
  return next;
}

bool GrammarMatcher::Run(std::string_view bytes, std::vector<Stack>* stacks, std::string* partial) const {
  std::string buf = *partial;
  buf.append(bytes);
  partial->clear();
  for (size_t i = 0; i < buf.size();) {
    const auto lead = static_cast<unsigned char>(buf[i]);
    const size_t len = SequenceLength(lead);
    if (len == 0) return false;
    const size_t have = std::min(len, buf.size() - i);
    uint32_t cp = len == 1 ? lead : lead & (0x7F >> len);
    for (size_t k = 1; k < have; ++k) {
      const auto c = static_cast<unsigned char>(buf[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    // The code points a sequence of this length may hold (no overlong forms).
    const uint32_t least = len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (have < len) {  // an incomplete last character: some completion of it must match
      const int missing = static_cast<int>(6 * (len - have));
      const uint32_t lo = std::max(cp << missing, least), hi = std::min<uint32_t>(((cp + 1) << missing) - 1, 0x10FFFF);
      if (lo > hi) return false;
      const bool open = std::any_of(stacks->begin(), stacks->end(),
                                    [&](const Stack& s) { return !s.empty() && Top(s).MatchesSomeOf(lo, hi); });
      if (!open) return false;
      *partial = buf.substr(i);
      return true;
    }
    if (cp < least || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;  // not well-formed UTF-8
    *stacks = Step(*stacks, cp);
    if (stacks->empty()) return false;
    i += len;
  }
  return true;
}

bool GrammarMatcher::Accepts(std::string_view bytes) const {
  // Most tokens fail at their first character: test it on the stacks' tops before copying
  // them (a whole vocabulary is tested whenever the sampled token is refused).
  if (partial_.empty() && !bytes.empty()) {
    const auto lead = static_cast<unsigned char>(bytes[0]);
    const size_t len = SequenceLength(lead);
    if (len == 0) return false;
    uint32_t cp = len == 1 ? lead : lead & (0x7F >> len);
    size_t k = 1;
    for (; k < len && k < bytes.size() && (static_cast<unsigned char>(bytes[k]) & 0xC0) == 0x80; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(bytes[k]) & 0x3F);
    if (k == len && !TakesNext(cp)) return false;
  }
  std::vector<Stack> stacks = stacks_;
  std::string partial = partial_;
  return Run(bytes, &stacks, &partial);
}

bool GrammarMatcher::TakesNext(uint32_t cp) const {
  return std::any_of(stacks_.begin(), stacks_.end(), [&](const Stack& s) { return !s.empty() && Top(s).Matches(cp); });
}

bool GrammarMatcher::Advance(std::string_view bytes) {
  std::vector<Stack> stacks = stacks_;
  std::string partial = partial_;
  if (!Run(bytes, &stacks, &partial)) return false;
  stacks_ = std::move(stacks);
  partial_ = std::move(partial);
  return true;
}

bool GrammarMatcher::CanEnd() const {
  return partial_.empty() && std::any_of(stacks_.begin(), stacks_.end(), [](const Stack& s) { return s.empty(); });
}

bool GrammarMatcher::Closed() const {
  return std::all_of(stacks_.begin(), stacks_.end(), [](const Stack& s) { return s.empty(); });
}

}  // namespace kvfuse::sched::grammar
