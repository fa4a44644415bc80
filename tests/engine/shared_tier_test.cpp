// Engines that share a Redis tier: chunks one engine computed are hits of another with the
// logits of a local hit, bit for bit; another model's values are never served, even under
// this model's keys; with Redis killed every prefill still succeeds with the same logits.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "../store/redis_server.h"
#include "engine/engine.h"
#include "tiny_engine.h"

namespace kvfuse::engine {
namespace {

std::unique_ptr<Engine> LoadShared(const std::string& redis_url, uint64_t model_seed = 5) {
  auto path = tools::TestModelFile("tiny", "f32", model_seed);
  EXPECT_TRUE(path.ok()) << path.status().message();
  EngineOptions o;
  o.model_path = path.ok() ? path.value() : "";
  o.n_ctx = 512;
  o.redis.url = redis_url;
  auto e = Engine::Load(o);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(e).value() : nullptr;
}

SegmentedPrompt Prompt(uint32_t seed) {
  SegmentedPrompt p;
  p.prefix = RandomTokens(12, 1);
  for (uint32_t c = 0; c < 3; ++c) p.chunks.push_back(RandomTokens(20, seed + c));
  p.suffix = RandomTokens(5, 99);
  return p;
}

// A RAG prefill in the default reuse mode from a clean sequence and prefix cache.
std::vector<float> Prefill(Engine& e, const SegmentedPrompt& p, FusionStats* out = nullptr) {
  e.Reset();
  e.ClearPrefixCache();
  std::vector<float> logits;
  FusionStats stats;
  const util::Status st = e.PrefillSegments(p, {kDefaultReuseMode}, logits, stats);
  EXPECT_TRUE(st.ok()) << st.message();
  if (out) *out = stats;
  return logits;
}

// Every key in the test's Redis (hiredis directly: the product never lists keys).
std::vector<std::string> Keys(int port) {
  redisContext* c = redisConnect("127.0.0.1", port);
  std::vector<std::string> keys;
  auto* reply = static_cast<redisReply*>(redisCommand(c, "KEYS *"));
  for (size_t i = 0; reply && i < reply->elements; ++i) keys.emplace_back(reply->element[i]->str, reply->element[i]->len);
  if (reply) freeReplyObject(reply);
  redisFree(c);
  return keys;
}

TEST(SharedTier, ChunksComputedByOneEngineAreHitsOfAnotherWithTheLogitsOfALocalHit) {
  store::TestRedisServer redis;
  ASSERT_TRUE(redis.running()) << "redis-server did not start: `make test` installs it";
  auto a = LoadShared(redis.url());
  ASSERT_TRUE(a);
  const SegmentedPrompt p = Prompt(10);
  FusionStats first;
  Prefill(*a, p, &first);
  EXPECT_EQ(first.chunk_misses, 3);
  ASSERT_TRUE(a->chunk_store().remote()->Flush(5000));
  FusionStats local;
  const std::vector<float> local_hit = Prefill(*a, p, &local);
  EXPECT_EQ(local.chunk_hits, 3);

  auto b = LoadShared(redis.url());
  ASSERT_TRUE(b);
  FusionStats remote;
  const std::vector<float> remote_hit = Prefill(*b, p, &remote);
  EXPECT_EQ(remote.chunk_hits, 3);
  EXPECT_EQ(b->chunk_store().stats().remote_hits, 3u);
  EXPECT_EQ(remote_hit, local_hit) << "a Redis hit gave other logits than a RAM hit";
}

TEST(SharedTier, AnotherModelsValuesAreNeverServedEvenUnderThisModelsKeys) {
  store::TestRedisServer redis;
  ASSERT_TRUE(redis.running());
  const SegmentedPrompt p = Prompt(20);
  auto other = LoadShared(redis.url(), /*model_seed=*/6);
  ASSERT_TRUE(other);
  Prefill(*other, p);
  ASSERT_TRUE(other->chunk_store().remote()->Flush(5000));
  const std::vector<std::string> other_keys = Keys(redis.port());
  ASSERT_EQ(other_keys.size(), 3u);

  auto a = LoadShared(redis.url());
  ASSERT_TRUE(a);
  FusionStats s;
  const std::vector<float> reference = Prefill(*a, p, &s);  // same chunks, another model: other keys
  EXPECT_EQ(s.chunk_misses, 3);
  ASSERT_TRUE(a->chunk_store().remote()->Flush(5000));
  std::vector<std::string> own_keys;
  for (const std::string& k : Keys(redis.port()))
    if (std::find(other_keys.begin(), other_keys.end(), k) == other_keys.end()) own_keys.push_back(k);
  ASSERT_EQ(own_keys.size(), 3u);
  // The other model's values put under this model's keys: each is detected and recomputed.
  store::RedisClient raw({{"127.0.0.1", redis.port(), 0}, "", 200, 500});
  for (size_t i = 0; i < 3; ++i) {
    auto value = raw.Get(other_keys[i]);
    ASSERT_TRUE(value.ok() && value->has_value());
    ASSERT_TRUE(raw.Set(own_keys[i], **value).ok());
  }
  auto b = LoadShared(redis.url());
  ASSERT_TRUE(b);
  FusionStats again;
  EXPECT_EQ(Prefill(*b, p, &again), reference);
  EXPECT_EQ(again.chunk_misses, 3);
  EXPECT_EQ(b->chunk_store().stats().corrupt, 3u);
}

TEST(SharedTier, WithRedisKilledEveryPrefillSucceedsWithTheSameLogits) {
  store::TestRedisServer redis;
  ASSERT_TRUE(redis.running());
  auto a = LoadShared(redis.url());
  auto alone = LoadTinyEngine(512);  // no Redis: the reference
  ASSERT_TRUE(a && alone);
  Prefill(*a, Prompt(30));
  redis.Kill();
  for (uint32_t seed : {30u, 40u, 50u}) {
    a->chunk_store().DropRam();  // every chunk must come from Redis or be computed
    EXPECT_EQ(Prefill(*a, Prompt(seed)), Prefill(*alone, Prompt(seed))) << "prompt " << seed;
  }
  EXPECT_FALSE(a->chunk_store().remote()->up());
}

}  // namespace
}  // namespace kvfuse::engine
