// The scheduler's policy against a scripted executor that logs every call: decodes come
// before prefill work in each iteration and prefill spends only what is left of the token
// budget; a fused RAG prefill is split into chunk-warming units; the newest request is
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
                               std::vector<float>& logits, fuse::FusionStats& stats, int32_t seq,
                               const fuse::FusionPlan* plan) override {
    std::lock_guard<std::mutex> hold(prefill_gate_);
    Release(seq);
    const int32_t n = prompt.size();
    if (used() + n > capacity_) return util::Status::ResourceExhausted("KV full");
    // Chunks the plan holds were counted when warmed; the rest are looked up here.
    const size_t planned = plan ? plan->chunks.size() : 0;
    for (size_t i = planned; i < prompt.chunks.size(); ++i) {
      const auto& c = prompt.chunks[i];
      const bool hit = options.mode != fuse::FusionMode::kFull && store_.count(c);
      stats.chunk_hits += hit;
      stats.chunk_misses += !hit;
      stats.chunk_tokens_hit += hit ? static_cast<int32_t>(c.size()) : 0;
      store_.insert(c);
    }
    stats.prompt_tokens += n;
    stats.tokens_computed += n - stats.chunk_tokens_hit - (plan ? plan->stats.chunk_tokens_hit : 0);
    len_[seq] = n;
    last_[seq] = prompt.Flatten().back();
    Log("prefill " + std::to_string(seq) + " " + std::to_string(n));
    return Next(seq, logits);
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
  util::Status WarmChunk(const std::vector<int32_t>& tokens, fuse::FusionPlan& plan) override {
    fuse::FusionStats& stats = plan.stats;
    plan.chunks.push_back(nullptr);  // a fake has no KV to hold
    const bool hit = store_.count(tokens) > 0;
    stats.chunk_hits += hit;
    stats.chunk_misses += !hit;
    stats.chunk_tokens_hit += hit ? static_cast<int32_t>(tokens.size()) : 0;
    store_.insert(tokens);
    Log(std::string(hit ? "warm-hit " : "warm ") + std::to_string(tokens.size()));
    return util::Status::Ok();
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
  void ObservePrefill(double, const fuse::FusionStats&) override {}
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
  std::atomic<int> preemptions{0};
  std::mutex mu;
  std::vector<double> first_tokens;  // guarded by mu
};

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
    Scheduler s(exec, events, SchedulerOptions{8, 2, 32});
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

TEST(Scheduler, FusedPrefillWarmsMissingChunksOneUnitEachThenFusesWithHits) {
  FakeExecutor exec(10000);
  NoEvents events;
  Scheduler s(exec, events, SchedulerOptions{8, 2, 64});
  const std::vector<std::vector<int32_t>> chunks = {std::vector<int32_t>(40, 4), std::vector<int32_t>(50, 5)};
  auto warm = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request({0}, 1, {chunks[0]}, fuse::FusionMode::kBlend), warm));
  Collect(*warm);  // chunk 0 is in the store now

  auto channel = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request({0}, 3, chunks, fuse::FusionMode::kBlend), channel));
  const GenerationResult r = Collect(*channel);
  EXPECT_EQ(r.text, Expected(2, 3));
  // One hit and one miss, as a single fused prefill would have counted them.
  EXPECT_EQ(r.fusion.chunk_hits, 1);
  EXPECT_EQ(r.fusion.chunk_misses, 1);
  EXPECT_EQ(r.fusion.chunk_tokens_hit, 40);
  EXPECT_EQ(r.cached_tokens, 40);
  const std::vector<std::string> log = exec.log();
  const std::vector<std::string> tail(log.end() - 5, log.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"warm-hit 40", "warm 50", "prefill 0 92", "decode 1", "decode 1"}))
      << "the fused prefill did not come after its chunks were warmed";
}

TEST(Scheduler, FullModeDoesNotWarmChunks) {
  FakeExecutor exec(10000);
  NoEvents events;
  Scheduler s(exec, events, SchedulerOptions{8, 2, 64});
  auto channel = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request({0}, 1, {std::vector<int32_t>(40, 4)}, fuse::FusionMode::kFull), channel));
  EXPECT_EQ(Collect(*channel).fusion.chunk_misses, 1);
  for (const std::string& line : exec.log()) EXPECT_EQ(line.rfind("warm", 0), std::string::npos) << line;
}

TEST(Scheduler, NewestRequestIsPreemptedWhenTheKvPoolIsFullAndStillFinishesExactly) {
  // Room for 60 tokens: two 20-token prompts that each generate 15 cannot both finish.
  FakeExecutor exec(60);
  NoEvents events;
  std::vector<std::shared_ptr<GenerationChannel>> channels;
  {
    Scheduler s(exec, events, SchedulerOptions{8, 2, 64});
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
  EXPECT_EQ(exec.live_sequences(), 0);
}

TEST(Scheduler, TimeToFirstTokenRunsFromTheRequestsArrival) {
  FakeExecutor exec(10000);
  NoEvents events;
  Scheduler s(exec, events, SchedulerOptions{8, 1, 64});
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
  Scheduler s(exec, events, SchedulerOptions{8, 2, 64});
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
  Scheduler s(exec, events, SchedulerOptions{8, 2, 64});
  auto channel = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(40, 1), 2), channel));
  EXPECT_EQ(Collect(*channel).error, "the prompt does not fit the KV cache");
}

TEST(Scheduler, CancelledRequestsFreeTheirSequences) {
  FakeExecutor exec(100000);
  NoEvents events;
  Scheduler s(exec, events, SchedulerOptions{8, 1, 16});
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
  Scheduler s(exec, events, SchedulerOptions{1, 1, 16});
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
