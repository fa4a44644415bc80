// A RAG request through the scheduler over the real engine: each chunk is looked up in the
// chunk store once, and the request's statistics count hits and misses as they happened.
#include <gtest/gtest.h>

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

TEST(ScheduledFusion, OneChunkStoreLookupPerChunkAndStatisticsAsTheyHappened) {
  auto e = LoadTinyEngine(512);
  ASSERT_NE(e, nullptr);
  Engine& engine = *e;

  GenerationRequest r;
  r.prompt.prefix = RandomTokens(20, 1);
  r.prompt.chunks = {RandomTokens(24, 51), RandomTokens(24, 52)};
  r.prompt.suffix = RandomTokens(6, 9);
  r.fusion.mode = FusionMode::kBlend;
  r.sampling.temperature = 0;
  r.max_tokens = 2;
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
  EXPECT_TRUE(channel->result().error.empty()) << channel->result().error;
  EXPECT_EQ(stats.chunk_hits, 1);
  EXPECT_EQ(stats.chunk_misses, 1);
  EXPECT_EQ(stats.chunk_tokens_hit, 24);
  EXPECT_EQ(stats.chunk_tokens, 48);
}

}  // namespace
}  // namespace kvfuse::engine
