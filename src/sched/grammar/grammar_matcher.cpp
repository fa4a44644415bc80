#include "sched/grammar/grammar_matcher.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace kvfuse::sched::grammar {

namespace {

// Ambiguous grammars keep several stacks at once, and expanding rule references forks on every
// alternative: one step may create at most kMaxStacks stacks and expand kMaxExpansions frames.
// A grammar whose start already passes either is refused when compiled (CheckGrammarCost);
// later in a generation the surplus is dropped (the text can still only go where a kept stack
// allows).
constexpr size_t kMaxStacks = 4096;
constexpr int64_t kMaxExpansions = 1 << 16;

// The code points a sequence of `len` bytes may hold (no overlong forms).
uint32_t LeastOfLength(size_t len) { return len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000; }

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar) : g_(std::move(grammar)) {
  int64_t budget = kMaxExpansions;
  for (int32_t a = 0; a < static_cast<int32_t>(g_->rules[g_->root].alternatives.size()); ++a)
    Expand({{g_->root, a, 0}}, &stacks_, &budget);
  over_budget_ = budget < 0 || stacks_.size() >= kMaxStacks;
  Dedup(&stacks_);
}

void GrammarMatcher::Dedup(std::vector<Stack>* stacks) {
  std::sort(stacks->begin(), stacks->end());
  stacks->erase(std::unique(stacks->begin(), stacks->end()), stacks->end());
}

const Element& GrammarMatcher::Top(const Stack& s) const {
  const Pos& p = s.back();
  return g_->rules[p.rule].alternatives[p.alt][p.idx];
}

void GrammarMatcher::Expand(Stack s, std::vector<Stack>* out, int64_t* budget) const {
  // A worklist, not recursion: a chain of nullable references (root ::= n n n ..., n ::= "" | "b")
  // expands one frame per reference before any character, up to the whole budget deep.
  if (--*budget < 0) return;
  std::vector<Stack> pending;
  pending.push_back(std::move(s));
  while (!pending.empty()) {
    Stack t = std::move(pending.back());
    pending.pop_back();
    while (!t.empty() && t.back().idx >= static_cast<int32_t>(g_->rules[t.back().rule].alternatives[t.back().alt].size()))
      t.pop_back();  // this alternative is done: back to its caller
    if (t.empty() || Top(t).kind == Element::Kind::kChars) {
      if (out->size() < kMaxStacks) out->push_back(std::move(t));
      continue;
    }
    const int32_t rule = Top(t).rule;
    // Where the caller goes on once the referenced rule is done; a caller with nothing left
    // is dropped now, so right recursion (x ::= "a" x | "") keeps stacks shallow.
    const Pos& caller = t.back();
    if (caller.idx + 1 >= static_cast<int32_t>(g_->rules[caller.rule].alternatives[caller.alt].size())) t.pop_back();
    else ++t.back().idx;
    // Pushed last to first, so that alternatives are taken in order, each charged as it is queued.
    for (auto a = static_cast<int32_t>(g_->rules[rule].alternatives.size()) - 1; a >= 0; --a) {
      if (--*budget < 0) return;
      Stack next = a == 0 ? std::move(t) : t;
      next.push_back({rule, a, 0});
      pending.push_back(std::move(next));
    }
  }
}

std::vector<GrammarMatcher::Stack> GrammarMatcher::Step(const std::vector<Stack>& stacks, uint32_t cp) const {
  std::vector<Stack> next;
  int64_t budget = kMaxExpansions;
  for (const Stack& s : stacks) {
    if (s.empty() || !Top(s).Matches(cp)) continue;
    Stack t = s;
    ++t.back().idx;
    Expand(std::move(t), &next, &budget);
  }
  work_ += kMaxExpansions - budget;  // expansions only: scanning stacks that do not match is cheap (a large enum)
  Dedup(&next);
  return next;
}

bool GrammarMatcher::TakesNext(uint32_t cp) const {
  return std::any_of(stacks_.begin(), stacks_.end(), [&](const Stack& s) { return !s.empty() && Top(s).Matches(cp); });
}

bool GrammarMatcher::Run(std::string_view bytes, std::vector<Stack>* stacks, std::string* partial) const {
  std::string buf = partial_;
  buf.append(bytes);
  const std::vector<Stack>* current = &stacks_;  // read in place until the first step
  std::vector<Stack> owned;
  for (size_t i = 0; i < buf.size();) {
    const size_t len = tokenizer::Utf8Length(static_cast<unsigned char>(buf[i]));
    if (len == 1 && static_cast<unsigned char>(buf[i]) >= 0x80) return false;  // no lead byte
    const size_t have = std::min(len, buf.size() - i);
    for (size_t k = 1; k < have; ++k)
      if (!IsContinuation(buf[i + k])) return false;
    if (have < len) {  // an incomplete last character: some completion of it must match
      const int missing = static_cast<int>(6 * (len - have));
      uint32_t head = static_cast<unsigned char>(buf[i]) & (0x7Fu >> len);  // the bits the bytes so far give
      for (size_t k = 1; k < have; ++k) head = (head << 6) | (static_cast<unsigned char>(buf[i + k]) & 0x3F);
      const uint32_t lo = std::max(head << missing, LeastOfLength(len));
      const uint32_t hi = std::min<uint32_t>(((head + 1) << missing) - 1, 0x10FFFF);
      if (lo > hi) return false;
      if (std::none_of(current->begin(), current->end(), [&](const Stack& s) { return !s.empty() && Top(s).MatchesSomeOf(lo, hi); }))
        return false;
      *partial = buf.substr(i);
      break;
    }
    if (tokenizer::ValidUtf8At(buf, i) != len) return false;  // overlong, a surrogate, past U+10FFFF
    owned = Step(*current, tokenizer::DecodeUtf8(buf, i, len));
    current = &owned;
    if (owned.empty()) return false;
    i += len;
  }
  if (current == &owned) *stacks = std::move(owned);
  else *stacks = stacks_;
  return true;
}

bool GrammarMatcher::Accepts(std::string_view bytes) const {
  std::vector<Stack> stacks;  // Run's first step scans the stacks in place: a refusal copies none
  std::string partial;
  return Run(bytes, &stacks, &partial);
}

bool GrammarMatcher::Advance(std::string_view bytes) {
  std::vector<Stack> stacks;
  std::string partial;
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

util::Status CheckGrammarCost(const std::shared_ptr<const Grammar>& grammar) {
  if (GrammarMatcher(grammar).over_budget())
    return util::Status::InvalidArgument("grammar: its start expands into too many alternatives (" +
                                         std::to_string(kMaxStacks) + " parse stacks or " +
                                         std::to_string(kMaxExpansions) + " expansions at most)");
  return util::Status::Ok();
}

}  // namespace kvfuse::sched::grammar
