// The scheduler tests' scripted executor: a fake model whose next token is (last token + 1)
// mod 7, a KV pool of token slots, a chunk store that is a set, and a log of every call.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "sched/scheduler.h"

namespace kvfuse::sched {
namespace {  // each test file has its own copy

constexpr int32_t kVocab = 8;  // tokens "a".."g" and an end-of-turn token 7
constexpr int32_t kEndOfTurn = 7;

std::unique_ptr<tokenizer::Tokenizer> LetterTokenizer() {
  tokenizer::Vocab v;
  v.model = "gpt2";
  v.pre = "gpt-2";
  for (int32_t i = 0; i < kVocab; ++i) {
    v.tokens.push_back(i == kEndOfTurn ? "<|end|>" : std::string(1, static_cast<char>('a' + i)));
    v.types.push_back(i == kEndOfTurn ? tokenizer::TokenType::kControl : tokenizer::TokenType::kNormal);
    v.scores.push_back(0);
  }
  v.tokens.push_back("ab");  // BPE wants a merge; the fake model never writes this token
  v.types.push_back(tokenizer::TokenType::kNormal);
  v.scores.push_back(0);
  v.merges = {"a b"};
  tokenizer::IndexVocab(&v);
  auto t = tokenizer::CreateTokenizer(std::move(v));
  KVFUSE_CHECK(t.ok());
  return std::move(t).value();
}

// A model whose next token is (last token + 1) mod 7, never the end of turn; a KV pool of
// `capacity` token slots shared by all sequences; a chunk store that is a set.
class FakeExecutor : public Executor {
 public:
  explicit FakeExecutor(int32_t capacity) : capacity_(capacity), tokenizer_(LetterTokenizer()) {}

  const tokenizer::Tokenizer* tokenizer() const override { return tokenizer_.get(); }
  int32_t n_vocab() const override { return kVocab; }
  int n_ctx() const override { return capacity_; }
  bool EndsTurn(int32_t token) const override { return token == kEndOfTurn; }
  int32_t CachedPrefixLength(const std::vector<int32_t>&) override { return 0; }
  void CachePrefix(int32_t seq, const std::vector<int32_t>& tokens) override {
    Log("cache-prefix " + std::to_string(seq) + " " + std::to_string(tokens.size()));
  }

  util::Status PrefillSegments(const fuse::SegmentedPrompt& prompt, const fuse::FusionOptions& options,
                               std::vector<float>& logits, fuse::FusionStats& stats, int32_t seq) override {
    std::lock_guard<std::mutex> hold(prefill_gate_);
    KVFUSE_RETURN_IF_ERROR(Fill(prompt, options, logits, stats, seq));
    Log("prefill " + std::to_string(seq) + " " + std::to_string(prompt.size()));
    return util::Status::Ok();
  }
  // Work of one token per chunk token missing from the store (when the mode reuses chunk
  // KV) and per token computed, spent min(budget, what is left) a step.
  std::unique_ptr<PrefillSteps> StartPrefill(const fuse::SegmentedPrompt& prompt, const fuse::FusionOptions& options,
                                             int32_t seq) override {
    int32_t work = 0;
    for (const auto& c : prompt.chunks) work += static_cast<int32_t>(c.size());
    if (fuse::ReusesChunkKv(options.mode)) {
      work += static_cast<int32_t>(prompt.prefix.size() + prompt.suffix.size());
      int32_t cached = 0;
      for (const auto& c : prompt.chunks) cached += store_.count(c) ? static_cast<int32_t>(c.size()) : 0;
      work -= cached;
      if (fuse::ModeReadsKnob(options.mode, fuse::FusionKnob::kRecomputeRatio))  // blend, query: a share again
        work += fuse::RecomputedCount(options.recompute_ratio, cached);
    } else {
      work = prompt.size();
    }
    return std::make_unique<Steps>(*this, prompt, options, seq, work);
  }
  util::Status Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool, std::vector<float>& logits,
                        int, int32_t seq) override {
    if (seq == kAuditSequence) std::this_thread::sleep_for(std::chrono::milliseconds(audit_delay_ms));
    std::lock_guard<std::mutex> hold(prefill_gate_);
    NoteLiveWork(seq);
    EXPECT_EQ(start_pos, len_[seq]);
    if (used() + static_cast<int32_t>(tokens.size()) > capacity_) return util::Status::ResourceExhausted("KV full");
    len_[seq] += static_cast<int32_t>(tokens.size());
    last_[seq] = tokens.back();
    Log("evaluate " + std::to_string(seq) + " " + std::to_string(tokens.size()));
    return Next(seq, logits);
  }
  int32_t ReserveForDecode(const std::vector<int32_t>& seqs) override {
    for (size_t i = 0; i < seqs.size(); ++i)
      if (used() + static_cast<int32_t>(i) + 1 > capacity_) return static_cast<int32_t>(i);
    return -1;
  }
  util::Status DecodeBatch(const std::vector<int32_t>& seqs, const std::vector<int32_t>& tokens,
                           std::vector<float>& logits) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(decode_delay_ms));
    for (int32_t seq : seqs) NoteLiveWork(seq);
    logits.assign(seqs.size() * kVocab, 0.0f);
    for (size_t i = 0; i < seqs.size(); ++i) {
      ++len_[seqs[i]];
      last_[seqs[i]] = tokens[i];
      logits[i * kVocab + (tokens[i] + 1) % kEndOfTurn] = 1.0f;
    }
    Log("decode " + std::to_string(seqs.size()));
    return util::Status::Ok();
  }
  void Release(int32_t seq) override {
    if (seq == kAuditSequence && len_.count(seq)) ++audit_releases_;
    len_.erase(seq), last_.erase(seq);
  }
  // How often the audit's sequence was released while it held KV.
  int audit_releases() const { return audit_releases_; }
  int64_t kv_blocks_used() const override { return used(); }
  int64_t kv_blocks_total() const override { return capacity_; }

  // Sleeps before each of an audit's Evaluate calls and prefill steps (a long audit).
  std::atomic<int> audit_delay_ms{0};
  // Sleeps in each decode step (at least this long, whatever the machine: a slow decode).
  std::atomic<int> decode_delay_ms{0};
  // Whether a request's work ever ran while the audit's sequence held KV.
  bool audit_held_kv_during_live_work() const { return audit_held_kv_during_live_work_; }

  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  int32_t live_sequences() const { return static_cast<int32_t>(len_.size()); }
  // Prefills wait while the returned lock is held: requests submitted meanwhile start together.
  std::unique_lock<std::mutex> HoldPrefills() { return std::unique_lock<std::mutex>(prefill_gate_); }

 private:
  class Steps final : public PrefillSteps {
   public:
    Steps(FakeExecutor& exec, fuse::SegmentedPrompt prompt, fuse::FusionOptions options, int32_t seq, int32_t work)
        : exec_(exec), prompt_(std::move(prompt)), options_(options), seq_(seq), left_(work) {}
    util::Result<int32_t> Step(int32_t budget, bool) override {
      if (seq_ == kAuditSequence) std::this_thread::sleep_for(std::chrono::milliseconds(exec_.audit_delay_ms));
      std::lock_guard<std::mutex> hold(exec_.prefill_gate_);
      exec_.NoteLiveWork(seq_);
      exec_.len_.try_emplace(seq_, 0);  // the sequence holds KV from its first step
      const int32_t n = std::min(budget, left_);
      left_ -= n;
      exec_.Log("step " + std::to_string(seq_) + " " + std::to_string(n));
      if (left_ == 0) KVFUSE_RETURN_IF_ERROR(exec_.Fill(prompt_, options_, logits_, stats_, seq_));
      done_ = left_ == 0;
      return n;
    }
    bool done() const override { return done_; }
    std::vector<float>& logits() override { return logits_; }
    const fuse::FusionStats& stats() const override { return stats_; }

   private:
    FakeExecutor& exec_;
    const fuse::SegmentedPrompt prompt_;
    const fuse::FusionOptions options_;
    const int32_t seq_;
    int32_t left_;
    bool done_ = false;
    std::vector<float> logits_;
    fuse::FusionStats stats_;
  };

  // A whole prefill: the sequence's KV and the chunk store's, its statistics and logits.
  util::Status Fill(const fuse::SegmentedPrompt& prompt, const fuse::FusionOptions& options,
                    std::vector<float>& logits, fuse::FusionStats& stats, int32_t seq) {
    NoteLiveWork(seq);
    len_.erase(seq), last_.erase(seq);  // anew (not a release)
    const int32_t n = prompt.size();
    if (used() + n > capacity_) return util::Status::ResourceExhausted("KV full");
    for (const auto& c : prompt.chunks) {
      const bool hit = fuse::ReusesChunkKv(options.mode) && store_.count(c);
      stats.chunk_hits += hit;
      stats.chunk_misses += !hit;
      stats.chunk_tokens_hit += hit ? static_cast<int32_t>(c.size()) : 0;
      store_.insert(c);
    }
    stats.prompt_tokens += n;
    stats.tokens_computed += n - stats.chunk_tokens_hit;
    len_[seq] = n;
    last_[seq] = prompt.Flatten().back();
    return Next(seq, logits);
  }
  void NoteLiveWork(int32_t seq) {
    if (seq != kAuditSequence && len_.count(kAuditSequence)) audit_held_kv_during_live_work_ = true;
  }
  int32_t used() const {
    int32_t n = 0;
    for (const auto& [seq, len] : len_) n += len;
    return n;
  }
  util::Status Next(int32_t seq, std::vector<float>& logits) {
    logits.assign(kVocab, 0.0f);
    logits[(last_[seq] + 1) % kEndOfTurn] = 1.0f;
    return util::Status::Ok();
  }
  void Log(std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(std::move(line));
  }

  const int32_t capacity_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::map<int32_t, int32_t> len_, last_;
  std::set<std::vector<int32_t>> store_;
  std::mutex mu_;
  std::vector<std::string> log_;
  std::mutex prefill_gate_;
  std::atomic<bool> audit_held_kv_during_live_work_{false};
  std::atomic<int> audit_releases_{0};
};

class NoEvents : public SchedulerEvents {
 public:
  void ObservePrefill(double, const fuse::FusionStats&) override { ++prefills; }
  void ObserveFirstToken(double seconds) override {
    std::lock_guard<std::mutex> lock(mu);
    first_tokens.push_back(seconds);
  }
  void ObserveInterToken(double) override {}
  void ObserveCompletion(int32_t) override {}
  void CountPreemption() override { ++preemptions; }
  void SetQueueLength(size_t) override {}
  void SetKvUsage(int64_t, int64_t) override {}
  std::vector<double> FirstTokens() {
    std::lock_guard<std::mutex> lock(mu);
    return first_tokens;
  }
  std::atomic<int> preemptions{0}, prefills{0};
  std::mutex mu;
  std::vector<double> first_tokens;  // guarded by mu
};

// A fixed budget: no TPOT target, so what an iteration runs does not depend on this
// machine's speed.
SchedulerOptions Fixed(size_t max_queue, int slots, int32_t batch_tokens) {
  SchedulerOptions o{max_queue, slots, batch_tokens};
  o.tpot_target_ms = 0;
  return o;
}

GenerationRequest Request(std::vector<int32_t> prefix, int32_t max_tokens,
                          std::vector<std::vector<int32_t>> chunks = {},
                          fuse::FusionMode mode = fuse::FusionMode::kPrefix) {
  GenerationRequest r;
  r.prompt.prefix = std::move(prefix);
  r.prompt.chunks = std::move(chunks);
  if (!r.prompt.chunks.empty()) r.prompt.suffix = {2};
  r.fusion.mode = mode;
  r.sampling.temperature = 0;
  r.max_tokens = max_tokens;
  return r;
}

// The text the fake model writes after a prompt ending in `last`: the letters that follow.
std::string Expected(int32_t last, int32_t n) {
  std::string s;
  for (int32_t i = 0; i < n; ++i) s += static_cast<char>('a' + (last + 1 + i) % kEndOfTurn);
  return s;
}

GenerationResult Collect(GenerationChannel& channel, std::string* streamed = nullptr) {
  std::string text;
  while (auto piece = channel.Next()) text += *piece;
  if (streamed) *streamed = text;
  return channel.result();
}

}  // namespace
}  // namespace kvfuse::sched
