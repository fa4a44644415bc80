// The scheduler's policy against a scripted executor that logs every call: decodes come
// before prefill work in each iteration and prefill spends only what is left of the token
// budget, whatever the prompt (plain, RAG with chunks to compute, RAG fully cached, exact
// RAG), a RAG prompt's prefill in budgeted steps; the budget follows the TPOT target; the newest request is
// preempted when the KV pool is full and still finishes with its exact answer; requests
// whose clients went away free their sequences. (Server tests cover the same scheduler over
// a real engine and HTTP.)
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "sched/scheduler.h"

namespace kvfuse::sched {
namespace {

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
    v.token_to_id[v.tokens.back()] = i;
    v.max_token_bytes = std::max(v.max_token_bytes, v.tokens.back().size());
  }
  v.tokens.push_back("ab");  // BPE wants a merge; the fake model never writes this token
  v.types.push_back(tokenizer::TokenType::kNormal);
  v.scores.push_back(0);
  v.token_to_id["ab"] = kVocab;
  v.merges = {"a b"};
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
      for (const auto& c : prompt.chunks) work -= store_.count(c) ? static_cast<int32_t>(c.size()) : 0;
    } else {
      work = prompt.size();
    }
    return std::make_unique<Steps>(*this, prompt, options, seq, work);
  }
  util::Status Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool, std::vector<float>& logits,
                        int, int32_t seq) override {
    std::lock_guard<std::mutex> hold(prefill_gate_);
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
    logits.assign(seqs.size() * kVocab, 0.0f);
    for (size_t i = 0; i < seqs.size(); ++i) {
      ++len_[seqs[i]];
      last_[seqs[i]] = tokens[i];
      logits[i * kVocab + (tokens[i] + 1) % kEndOfTurn] = 1.0f;
    }
    Log("decode " + std::to_string(seqs.size()));
    return util::Status::Ok();
  }
  void Release(int32_t seq) override { len_.erase(seq), last_.erase(seq); }
  int64_t kv_blocks_used() const override { return used(); }
  int64_t kv_blocks_total() const override { return capacity_; }

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
      std::lock_guard<std::mutex> hold(exec_.prefill_gate_);
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
    Release(seq);
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

TEST(Scheduler, DecodesComeFirstAndPrefillSpendsWhatIsLeftOfTheBudget) {
  // Room for a million tokens: the first request decodes on its own until the second is
  // submitted, and a test thread held up under load let it fill 10,000 (the second was then
  // preempted for room and the pieces below never logged).
  FakeExecutor exec(1'000'000);
  NoEvents events;
  std::vector<std::string> log;
  {
    Scheduler s(exec, events, Fixed(8, 2, 32));
    auto first = std::make_shared<GenerationChannel>();  // decodes until cancelled
    ASSERT_TRUE(s.Submit(Request({0, 1}, 1000000000), first));
    ASSERT_TRUE(first->Next().has_value());
    auto second = std::make_shared<GenerationChannel>();
    ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(100, 3), 2), second));
    EXPECT_EQ(Collect(*second).text, Expected(3, 2));
    first->Cancel();
    std::string streamed;
    const GenerationResult a = Collect(*first, &streamed);
    EXPECT_EQ(a.text, Expected(1, a.completion_tokens));
    EXPECT_EQ(a.text.substr(1), streamed);  // the first letter was read before
    log = exec.log();
  }
  // The 100-token prompt went in pieces of 31 tokens (32 less the one decode) between
  // decodes, 7 left for the last piece, then it joined the decode batch.
  std::vector<std::string> pieces;
  for (size_t i = 0; i < log.size(); ++i)
    if (log[i].rfind("prefill 1", 0) == 0 || log[i].rfind("evaluate 1", 0) == 0) {
      pieces.push_back(log[i]);
      ASSERT_GT(i, 0u);
      EXPECT_EQ(log[i - 1], "decode 1") << "prefill work without a decode before it, at " << i;
    }
  EXPECT_EQ(pieces, (std::vector<std::string>{"prefill 1 31", "evaluate 1 31", "evaluate 1 31", "evaluate 1 7"}));
  EXPECT_NE(std::find(log.begin(), log.end(), "cache-prefix 1 100"), log.end());
  EXPECT_NE(std::find(log.begin(), log.end(), "decode 2"), log.end());
  EXPECT_EQ(exec.live_sequences(), 0);
}

// Tokens of prefill work in a log line ("prefill S N", "evaluate S N", "step S N"), else -1.
int32_t PrefillWork(const std::string& line) {
  for (const char* kind : {"prefill ", "evaluate ", "step "})
    if (line.rfind(kind, 0) == 0) return std::stoi(line.substr(line.rfind(' ') + 1));
  return -1;
}

TEST(Scheduler, NoIterationRunsMoreThanItsBudgetWhateverThePromptsShape) {
  FakeExecutor exec(1'000'000);
  NoEvents events;
  const std::vector<std::vector<int32_t>> chunks = {std::vector<int32_t>(40, 4), std::vector<int32_t>(50, 5)};
  std::vector<GenerationResult> results;
  std::vector<std::string> log;
  {
    Scheduler s(exec, events, Fixed(8, 2, 32));
    auto decoding = std::make_shared<GenerationChannel>();  // decodes until cancelled
    ASSERT_TRUE(s.Submit(Request({0, 1}, 1000000000), decoding));
    ASSERT_TRUE(decoding->Next().has_value());
    // Plain; RAG with both chunks to compute; the same chunks, now cached; exact RAG.
    for (const GenerationRequest& r :
         {Request(std::vector<int32_t>(100, 3), 2), Request({0}, 2, chunks, fuse::FusionMode::kBlend),
          Request({0}, 2, chunks, fuse::FusionMode::kQuery), Request({0}, 2, chunks, fuse::FusionMode::kFull)}) {
      auto channel = std::make_shared<GenerationChannel>();
      ASSERT_TRUE(s.Submit(r, channel));
      results.push_back(Collect(*channel));
    }
    decoding->Cancel();
    Collect(*decoding);
    log = exec.log();
  }
  int32_t budget = 32, spent = 0, steps = 0;
  for (const std::string& line : log) {
    if (line.rfind("decode ", 0) == 0) {
      budget = 32 - std::stoi(line.substr(7));  // the decodes come first in an iteration
      spent = 0;
    } else if (const int32_t work = PrefillWork(line); work >= 0) {
      spent += work;
      steps += line.rfind("step ", 0) == 0;
      EXPECT_LE(spent, budget) << "over the budget at: " << line;
    }
  }
  // 40 + 50 + 2 tokens of work for the first RAG prompt, 2 for the cached one, 92 for the
  // exact one, at most 31 a step.
  EXPECT_GE(steps, 3 + 1 + 3);
  EXPECT_EQ(results[0].text, Expected(3, 2));
  for (size_t i = 1; i < results.size(); ++i) EXPECT_EQ(results[i].text, Expected(2, 2)) << i;
  EXPECT_EQ(results[1].fusion.chunk_misses, 2);
  EXPECT_EQ(results[2].fusion.chunk_hits, 2);
  EXPECT_EQ(results[2].cached_tokens, 90);
  EXPECT_EQ(results[3].fusion.chunk_misses, 2) << "exact prefill uses no cached chunk";
}

TEST(Scheduler, NewestRequestIsPreemptedWhenTheKvPoolIsFullAndStillFinishesExactly) {
  // Room for 60 tokens: two 20-token prompts that each generate 15 cannot both finish.
  FakeExecutor exec(60);
  NoEvents events;
  std::vector<std::shared_ptr<GenerationChannel>> channels;
  {
    Scheduler s(exec, events, Fixed(8, 2, 64));
    {
      // Without the hold, a slow submitter could let the first request write 10 tokens before
      // the second arrives, and then both fit.
      const auto hold = exec.HoldPrefills();
      for (int32_t last : {3, 4}) {
        channels.push_back(std::make_shared<GenerationChannel>());
        std::vector<int32_t> prompt(20, 0);
        prompt.back() = last;
        ASSERT_TRUE(s.Submit(Request(prompt, 15), channels.back()));
      }
    }
    for (size_t i = 0; i < channels.size(); ++i) {
      std::string streamed;
      const GenerationResult r = Collect(*channels[i], &streamed);
      EXPECT_EQ(r.error, "");
      EXPECT_EQ(r.text, Expected(3 + static_cast<int32_t>(i), 15));
      EXPECT_EQ(streamed, r.text) << "a restarted request sent text twice or lost some";
    }
  }
  EXPECT_GE(events.preemptions.load(), 1);
  EXPECT_EQ(events.FirstTokens().size(), 2u) << "a restarted request's first token was observed again";
  EXPECT_EQ(events.prefills.load(), 2) << "a restarted request's prefill was counted again";
  EXPECT_EQ(exec.live_sequences(), 0);
}

TEST(Scheduler, TimeToFirstTokenRunsFromTheRequestsArrival) {
  FakeExecutor exec(10000);
  NoEvents events;
  Scheduler s(exec, events, Fixed(8, 1, 64));
  GenerationRequest r = Request({0, 1}, 2);
  r.arrival = std::chrono::steady_clock::now() - std::chrono::seconds(3);  // arrived, then waited
  auto early = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(std::move(r), early));
  Collect(*early);
  auto unset = std::make_shared<GenerationChannel>();  // no arrival: the time of Submit
  ASSERT_TRUE(s.Submit(Request({0, 1}, 2), unset));
  Collect(*unset);
  const std::vector<double> ttft = events.FirstTokens();
  ASSERT_EQ(ttft.size(), 2u);
  EXPECT_GE(ttft[0], 3.0);
  EXPECT_LT(ttft[1], 3.0);
  EXPECT_GE(ttft[1], 0.0);
}

TEST(GenerationChannel, WaitDoneTimesOutThenSeesTheEnd) {
  GenerationChannel channel;
  channel.Push("a");
  EXPECT_FALSE(channel.WaitDone(std::chrono::milliseconds(1)));
  GenerationResult r;
  r.text = "a";
  channel.Finish(r);
  EXPECT_TRUE(channel.WaitDone(std::chrono::milliseconds(0)));
  EXPECT_EQ(channel.result().text, "a");
  EXPECT_EQ(channel.Next(), std::nullopt);  // the pieces were dropped: the result holds them
}

TEST(Scheduler, PromptWithoutRoomWaitsForItWithoutCountingAPreemption) {
  FakeExecutor exec(50);  // a 30-token prompt generating 10 and a 25-token one cannot overlap
  NoEvents events;
  Scheduler s(exec, events, Fixed(8, 2, 64));
  auto a = std::make_shared<GenerationChannel>(), b = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(30, 1), 10), a));
  ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(25, 2), 10), b));
  EXPECT_EQ(Collect(*a).text, Expected(1, 10));
  const GenerationResult rb = Collect(*b);
  EXPECT_EQ(rb.error, "");
  EXPECT_EQ(rb.text, Expected(2, 10));
  EXPECT_EQ(events.preemptions.load(), 0);
}

TEST(Scheduler, PromptLargerThanThePoolIsAnErrorNotALoop) {
  FakeExecutor exec(30);
  NoEvents events;
  Scheduler s(exec, events, Fixed(8, 2, 64));
  auto channel = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(40, 1), 2), channel));
  EXPECT_EQ(Collect(*channel).error, "the prompt does not fit the KV cache");
}

TEST(Scheduler, CancelledRequestsFreeTheirSequences) {
  FakeExecutor exec(100000);
  NoEvents events;
  Scheduler s(exec, events, Fixed(8, 1, 16));
  auto running = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request({0}, 1000000), running));
  auto waiting = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request({0}, 5), waiting));
  ASSERT_TRUE(running->Next().has_value());
  waiting->Cancel();  // still queued behind the only slot
  running->Cancel();
  Collect(*running);
  Collect(*waiting);
  EXPECT_LT(running->result().completion_tokens, 1000000);
  EXPECT_EQ(waiting->result().completion_tokens, 0);
  EXPECT_TRUE(running->result().cancelled);
  EXPECT_TRUE(waiting->result().cancelled);
  auto after = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request({5}, 2), after));
  EXPECT_EQ(Collect(*after).text, Expected(5, 2));
  EXPECT_FALSE(after->result().cancelled);
  after->Cancel();  // after its end: the answer stands
  EXPECT_FALSE(after->result().cancelled);
  EXPECT_EQ(exec.live_sequences(), 0);
}

TEST(Scheduler, FullQueueRefusesSubmissions) {
  FakeExecutor exec(100000);
  NoEvents events;
  Scheduler s(exec, events, Fixed(1, 1, 16));
  std::vector<std::shared_ptr<GenerationChannel>> channels;
  bool refused = false;
  for (int i = 0; i < 50 && !refused; ++i) {
    channels.push_back(std::make_shared<GenerationChannel>());
    refused = !s.Submit(Request({0}, 100000), channels.back());
  }
  EXPECT_TRUE(refused);
  for (auto& c : channels) c->Cancel();
}

}  // namespace
}  // namespace kvfuse::sched
