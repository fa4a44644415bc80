// A RAG request through the scheduler over the real engine: each chunk is looked up in the
// chunk store once, and the request's statistics count hits and misses as they happened.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine/engine.h"
#include "tiny_engine.h"

namespace kvfuse::engine {
namespace {

class NullEvents final : public SchedulerEvents {
 public:
  void ObservePrefill(double, const FusionStats&) override {}
  void ObserveInterToken(double) override {}
  void ObserveCompletion(int32_t) override {}
  void CountPreemption() override {}
  void SetQueueLength(size_t) override {}
  void SetKvUsage(int64_t, int64_t) override {}
};

uint64_t Lookups(const store::StoreStats& s) { return s.ram_hits + s.disk_hits + s.misses; }

// A greedy RAG request: a 20-token prefix, two chunks of 24, a 6-token question.
GenerationRequest RagRequest(FusionMode mode, int32_t max_tokens) {
  GenerationRequest r;
  r.prompt.prefix = RandomTokens(20, 1);
  r.prompt.chunks = {RandomTokens(24, 51), RandomTokens(24, 52)};
  r.prompt.suffix = RandomTokens(6, 9);
  r.fusion.mode = mode;
  r.sampling.temperature = 0;
  r.max_tokens = max_tokens;
  return r;
}

TEST(ScheduledFusion, OneChunkStoreLookupPerChunkAndStatisticsAsTheyHappened) {
  auto e = LoadTinyEngine(512);
  ASSERT_NE(e, nullptr);
  Engine& engine = *e;

  const GenerationRequest r = RagRequest(FusionMode::kBlend, 2);
  ASSERT_TRUE(engine.WarmChunk(r.prompt.chunks[0]).ok());  // chunk 0 cached, chunk 1 not
  const uint64_t before = Lookups(engine.chunk_store().stats());

  NullEvents events;
  auto channel = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(engine.StartScheduler(events, SchedulerOptions{8, 1, 512}).Submit(r, channel));
  while (channel->Next()) {
  }
  engine.StopScheduler();  // the scheduler's thread has ended: the store's statistics are ours to read
  EXPECT_EQ(Lookups(engine.chunk_store().stats()) - before, 2u) << "one lookup per chunk";
  const FusionStats& stats = channel->result().fusion;
  EXPECT_TRUE(channel->result().error.ok()) << channel->result().error.message();
  EXPECT_EQ(stats.chunk_hits, 1);
  EXPECT_EQ(stats.chunk_misses, 1);
  EXPECT_EQ(stats.chunk_tokens_hit, 24);
  EXPECT_EQ(stats.chunk_tokens, 48);
}

// Cancelled at different moments of its stepped prefill (while another request decodes, so
// the prefill goes a few layers an iteration): every block returns to the pool (or stays in
// the prefix cache, when the prefill finished first), and the same prompt then prefills to
// the logits a fresh engine gives.
TEST(ScheduledFusion, CancellingARagPrefillMidwayLeavesTheEngineAsNew) {
  for (int delay_us : {0, 200, 1000, 3000}) {
    SCOPED_TRACE(delay_us);
    auto e = LoadTinyEngine(512);
    ASSERT_NE(e, nullptr);
    const int32_t free_before = e->block_pool().n_free();
    const GenerationRequest rag = RagRequest(FusionMode::kQuery, 4);
    GenerationRequest talker;
    talker.prompt.prefix = RandomTokens(8, 3);
    talker.sampling.temperature = 0;
    talker.max_tokens = 400;
    talker.ignore_eos = true;
    NullEvents events;
    SchedulerOptions options{8, 2, 8};  // 8 tokens an iteration: the prefill takes many steps
    options.tpot_target_ms = 0;
    Scheduler& s = e->StartScheduler(events, options);
    auto talking = std::make_shared<GenerationChannel>(), cancelled = std::make_shared<GenerationChannel>();
    ASSERT_TRUE(s.Submit(talker, talking));
    ASSERT_TRUE(talking->Next().has_value());  // decoding now
    ASSERT_TRUE(s.Submit(rag, cancelled));
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    cancelled->Cancel();
    talking->Cancel();
    while (cancelled->Next()) {
    }
    while (talking->Next()) {
    }
    e->StopScheduler();
    // A prefill that finished before the cancel left its exact prefix in the prefix cache.
    EXPECT_EQ(e->block_pool().n_free() + e->cached_prefix_blocks(), free_before);

    auto fresh = LoadTinyEngine(512);
    std::vector<float> expected, logits;
    FusionStats stats;
    ASSERT_TRUE(fresh->PrefillSegments(rag.prompt, rag.fusion, expected, stats).ok());
    ASSERT_TRUE(e->PrefillSegments(rag.prompt, rag.fusion, logits, stats).ok());
    EXPECT_EQ(logits, expected);
  }
}

}  // namespace
}  // namespace kvfuse::engine
