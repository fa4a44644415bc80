// The scheduler's policy against a scripted executor that logs every call: decodes come
// before prefill work in each iteration and prefill spends only what is left of the token
// budget, whatever the prompt (plain, RAG with chunks to compute, RAG fully cached, exact
// RAG), a RAG prompt's prefill in budgeted steps; the budget follows the TPOT target; the newest request is
// preempted when the KV pool is full and still finishes with its exact answer; requests
// whose clients went away free their sequences. (Server tests cover the same scheduler over
// a real engine and HTTP.)
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "sched/scheduler.h"
#include "scripted_executor.h"

namespace kvfuse::sched {
namespace {

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

// Two prompts admitted together while nothing decodes: the step's budget is the whole batch,
// but once the first starts decoding, the rest of the step is what an iteration with it
// decoding may run. Decode steps take at least 30 ms against a 20 ms target, so that is the
// minimum, whatever this machine's speed.
TEST(Scheduler, AStreamThatStartsDecodingMidStepCutsTheRestOfTheStepToItsBudget) {
  FakeExecutor exec(10000);
  exec.decode_delay_ms = 30;
  NoEvents events;
  SchedulerOptions options = Fixed(8, 2, 64);
  options.tpot_target_ms = 20;
  std::vector<std::string> log;
  {
    Scheduler s(exec, events, options);
    auto warm = std::make_shared<GenerationChannel>();  // measures a decode and a prefill
    ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(8, 3), 3), warm));
    Collect(*warm);
    std::atomic<bool> entered{false}, release{false};
    std::thread hold([&] {  // keeps the scheduler between iterations while both are submitted
      s.RunExclusive([&] {
        entered = true;
        while (!release) std::this_thread::yield();
      });
    });
    while (!entered) std::this_thread::yield();
    auto first = std::make_shared<GenerationChannel>(), second = std::make_shared<GenerationChannel>();
    const bool submitted = s.Submit(Request(std::vector<int32_t>(10, 4), 2), first) &&
                           s.Submit(Request(std::vector<int32_t>(100, 5), 2), second);
    release = true;  // before any assertion can return
    hold.join();
    ASSERT_TRUE(submitted);
    EXPECT_EQ(Collect(*first).text, Expected(4, 2));
    EXPECT_EQ(Collect(*second).text, Expected(5, 2));
    log = exec.log();
  }
  const auto first_piece = std::find(log.begin(), log.end(), "prefill 0 10");
  ASSERT_NE(first_piece, log.end());
  ASSERT_NE(first_piece + 1, log.end());
  EXPECT_EQ(*(first_piece + 1), "prefill 1 " + std::to_string(IterationBudget::kMinPrefillTokens))
      << "the second prompt ran the rest of the whole batch's budget";
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
      EXPECT_TRUE(r.error.ok()) << r.error.message();
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
  EXPECT_TRUE(rb.error.ok()) << rb.error.message();
  EXPECT_EQ(rb.text, Expected(2, 10));
  EXPECT_EQ(events.preemptions.load(), 0);
}

// A prompt prefilled in pieces that runs out of room halfway loses what it computed; it was
// admitted again at once, and again ran out, each step while the other request decoded.
TEST(Scheduler, PromptThatRanOutOfRoomWaitsForARequestToEndBeforeItsRetry) {
  FakeExecutor exec(50);  // a 30-token prompt generating 10 and a 25-token one cannot overlap
  NoEvents events;
  Scheduler s(exec, events, Fixed(8, 2, 16));  // prefill in pieces of at most 16 tokens
  auto a = std::make_shared<GenerationChannel>(), b = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(30, 1), 10), a));
  ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(25, 2), 10), b));
  EXPECT_EQ(Collect(*a).text, Expected(1, 10));
  EXPECT_EQ(Collect(*b).text, Expected(2, 10));
  int32_t prompt_tokens = 0;
  for (const std::string& line : exec.log())  // prompt work: "prefill SEQ N" steps, "evaluate SEQ N" ends
    if (line.rfind("prefill ", 0) == 0 || line.rfind("evaluate ", 0) == 0)
      prompt_tokens += std::stoi(line.substr(line.rfind(' ') + 1));
  EXPECT_LE(prompt_tokens, 30 + 25 + 24) << "the second prompt was computed again and again";
  EXPECT_LE(events.preemptions.load(), 1);
}

TEST(Scheduler, PromptLargerThanThePoolIsAnErrorNotALoop) {
  FakeExecutor exec(30);
  NoEvents events;
  Scheduler s(exec, events, Fixed(8, 2, 64));
  auto channel = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(40, 1), 2), channel));
  const util::Status error = Collect(*channel).error;
  EXPECT_EQ(error.code(), util::StatusCode::kInvalidArgument);
  EXPECT_EQ(error.message(), "the prompt does not fit the KV cache");
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

// Clients gone while their requests wait (a slot busy with a long answer) do not hold the
// queue: a full queue of them refused every new request until the slot freed.
TEST(Scheduler, QueuedRequestsOfClientsGoneDoNotFillTheQueue) {
  FakeExecutor exec(100000);
  NoEvents events;
  Scheduler s(exec, events, Fixed(2, 1, 16));
  auto busy = std::make_shared<GenerationChannel>();  // holds the only slot
  ASSERT_TRUE(s.Submit(Request({0}, 1000000000), busy));
  ASSERT_TRUE(busy->Next().has_value());
  std::vector<std::shared_ptr<GenerationChannel>> gone;
  for (int i = 0; i < 2; ++i) {
    gone.push_back(std::make_shared<GenerationChannel>());
    ASSERT_TRUE(s.Submit(Request({1}, 4), gone.back()));
  }
  auto refused = std::make_shared<GenerationChannel>();
  EXPECT_FALSE(s.Submit(Request({2}, 4), refused)) << "the queue holds two";
  for (auto& c : gone) c->Cancel();
  auto next = std::make_shared<GenerationChannel>();
  const bool accepted = s.Submit(Request({2}, 4), next);
  EXPECT_TRUE(accepted) << "refused behind requests whose clients left";
  busy->Cancel();
  for (auto& c : gone) EXPECT_TRUE(Collect(*c).cancelled);
  if (accepted) {
    EXPECT_EQ(Collect(*next).text, Expected(2, 4));
  }
}

}  // namespace
}  // namespace kvfuse::sched
