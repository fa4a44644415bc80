// The shared Redis tier: values round-trip bit for bit (f16) or within half a quantisation
// step (int8), every kind of damage is detected, deleted and never served, Redis going away
// turns lookups into misses without errors and the tier comes back with Redis, and two stores
// that share one Redis see each other's chunks.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <random>
#include <thread>

#include "redis_server.h"
#include "store/chunk_store.h"
#include "store/kv_int8.h"
#include "store/remote_value.h"
#include "tensor/half.h"
#include "util/hash.h"

namespace kvfuse::store {
namespace {

constexpr ChunkShape kShape{3, 32};  // 16 f16 elements per row

// A record whose K and V rows are finite f16 values, as the model writes them.
std::shared_ptr<ChunkRecord> KvRecord(uint64_t key, uint32_t n_tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<int32_t> tokens(n_tokens);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % 1000);
  auto r = std::make_shared<ChunkRecord>();
  r->key = key;
  r->context_hash = rng();
  r->Resize(kShape, tokens);
  for (auto* bytes : {&r->k, &r->v}) {
    auto* half = reinterpret_cast<uint16_t*>(bytes->data());
    for (size_t i = 0; i < bytes->size() / 2; ++i) half[i] = tensor::Fp32ToFp16(normal(rng));
  }
  r->token_scores.assign(n_tokens, 0.5f);
  r->context_chunks = {7, 9};
  r->context_weights = {0.25f, 0.75f};
  r->cci = 0.6f;
  return r;
}

bool SameRecord(const ChunkRecord& a, const ChunkRecord& b) {
  return a.key == b.key && a.context_hash == b.context_hash && a.shape == b.shape && a.tokens == b.tokens &&
         a.k == b.k && a.v == b.v && a.token_scores == b.token_scores && a.context_chunks == b.context_chunks &&
         a.context_weights == b.context_weights && a.cci == b.cci;
}

TEST(KvInt8, EveryElementComesBackWithinHalfAStepOfADoubleReference) {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal(0.0, 3.0);
  constexpr size_t kRows = 40, kElements = 96;
  std::vector<uint16_t> f16(kRows * kElements), back(f16.size());
  for (auto& h : f16) h = tensor::Fp32ToFp16(static_cast<float>(normal(rng)));
  for (size_t i = 0; i < kElements; ++i) f16[5 * kElements + i] = 0;  // a zero row
  std::vector<uint8_t> q(kRows * Int8RowBytes(kElements));
  QuantizeRowsInt8(f16.data(), kRows, kElements, q.data());
  DequantizeRowsInt8(q.data(), kRows, kElements, back.data());
  for (size_t r = 0; r < kRows; ++r) {
    double max_abs = 0;
    for (size_t i = 0; i < kElements; ++i) max_abs = std::max(max_abs, std::fabs(double{tensor::Fp16ToFp32(f16[r * kElements + i])}));
    const double step = max_abs / 127.0;
    for (size_t i = 0; i < kElements; ++i) {
      const double x = tensor::Fp16ToFp32(f16[r * kElements + i]), y = tensor::Fp16ToFp32(back[r * kElements + i]);
      // Half a step of rounding, then f16's own rounding of the result (11 bits).
      EXPECT_LE(std::fabs(x - y), step / 2 + std::fabs(y) / 1024 + 1e-7) << "row " << r << " element " << i;
    }
  }
  for (size_t i = 0; i < kElements; ++i) EXPECT_EQ(back[5 * kElements + i], 0);
}

TEST(RemoteValue, F16RoundTripsBitForBitAndInt8WithinAStepAtAboutHalfTheBytes) {
  const auto record = KvRecord(42, 50, 1);
  const std::string f16 = EncodeRemoteValue(*record, RemoteFormat::kF16);
  auto back = DecodeRemoteValue(f16, 42, kShape, "test");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(SameRecord(back.value(), *record));

  const std::string int8 = EncodeRemoteValue(*record, RemoteFormat::kInt8);
  EXPECT_LT(int8.size(), f16.size() * 0.7);
  auto lossy = DecodeRemoteValue(int8, 42, kShape, "test");
  ASSERT_TRUE(lossy.ok()) << lossy.status().message();
  EXPECT_EQ(lossy->tokens, record->tokens);
  EXPECT_EQ(lossy->token_scores, record->token_scores);
  EXPECT_EQ(lossy->shape, kShape);
  const auto* a = reinterpret_cast<const uint16_t*>(record->k.data());
  const auto* b = reinterpret_cast<const uint16_t*>(lossy->k.data());
  for (size_t i = 0; i < record->k.size() / 2; ++i)
    EXPECT_NEAR(tensor::Fp16ToFp32(a[i]), tensor::Fp16ToFp32(b[i]), 0.1) << i;  // |x| < ~12: step < 0.1
}

TEST(RemoteValue, EveryDamageIsCorruptNeverARecord) {
  const auto record = KvRecord(42, 20, 2);
  for (RemoteFormat format : {RemoteFormat::kF16, RemoteFormat::kInt8}) {
    const std::string value = EncodeRemoteValue(*record, format);
    for (size_t at = 0; at < value.size(); at += 1 + value.size() / 300) {
      std::string damaged = value;
      damaged[at] ^= 0x21;
      auto got = DecodeRemoteValue(damaged, 42, kShape, "test");
      ASSERT_FALSE(got.ok()) << "byte " << at << " flipped was served";
      EXPECT_EQ(got.status().code(), util::StatusCode::kCorrupt);
    }
    for (size_t len : {size_t{0}, size_t{10}, value.size() / 2, value.size() - 1})
      EXPECT_EQ(DecodeRemoteValue(value.substr(0, len), 42, kShape, "t").status().code(), util::StatusCode::kCorrupt);
    EXPECT_EQ(DecodeRemoteValue(value + "x", 42, kShape, "t").status().code(), util::StatusCode::kCorrupt);
    EXPECT_EQ(DecodeRemoteValue(value, 43, kShape, "t").status().code(), util::StatusCode::kCorrupt);
    EXPECT_EQ(DecodeRemoteValue(value, 42, ChunkShape{3, 64}, "t").status().code(), util::StatusCode::kCorrupt);
  }
}

TEST(RemoteValue, AForgedSizeIsRefusedBeforeAnythingIsAllocatedForIt) {
  std::string value = EncodeRemoteValue(*KvRecord(42, 20, 2), RemoteFormat::kF16);
  const uint64_t huge = uint64_t{3} << 30;
  std::memcpy(value.data() + 24, &huge, sizeof(huge));  // the envelope's record_bytes
  const uint64_t checksum = util::Hash64(value.data(), 48);  // a forger recomputes it
  std::memcpy(value.data() + 48, &checksum, sizeof(checksum));
  auto got = DecodeRemoteValue(value, 42, kShape, "forged");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), util::StatusCode::kCorrupt);
  EXPECT_NE(got.status().message().find("the envelope says"), std::string::npos) << got.status().message();
}

TEST(RedisUrl, ParsesHostPortAndDatabaseAndRefusesPasswords) {
  auto e = ParseRedisUrl("redis://cache.internal:6380/2");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "cache.internal");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 2);
  e = ParseRedisUrl("redis://[::1]:7000");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 7000);
  e = ParseRedisUrl("redis://10.0.0.5");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->db, 0);
  for (const char* bad : {"http://h:1", "redis://", "redis://h:0", "redis://h:70000", "redis://h:1/x", "redis://h:x", "redis://[::1", "redis://[::1]x"})
    EXPECT_EQ(ParseRedisUrl(bad).status().code(), util::StatusCode::kInvalidArgument) << bad;
  auto secret = ParseRedisUrl("redis://:hunter2@h:1");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message().find("hunter2"), std::string::npos);
}

TEST(RedisUrl, HashSlotsAreRedisClusters) {
  EXPECT_EQ(RedisHashSlot("123456789"), 0x31C3 % 16384);  // CRC-16/XMODEM's check value
  EXPECT_EQ(RedisHashSlot("foo"), 12182);                // from Redis Cluster's documentation
  EXPECT_EQ(RedisHashSlot("kvfuse:{00000000000000ab}"), RedisHashSlot("00000000000000ab"));
  EXPECT_EQ(RedisHashSlot("a{}b"), RedisHashSlot("a{}b"));  // an empty tag hashes the whole key
}

// One reply of a raw command (hiredis directly: the product has no use for these).
std::string RawCommand(int port, const char* command) {
  redisContext* c = redisConnect("127.0.0.1", port);
  auto* reply = c ? static_cast<redisReply*>(redisCommand(c, command)) : nullptr;
  std::string text = !reply ? "" : reply->type == REDIS_REPLY_INTEGER ? std::to_string(reply->integer)
                                 : reply->str ? std::string(reply->str, reply->len) : "";
  if (reply) freeReplyObject(reply);
  if (c) redisFree(c);
  return text;
}

RedisTierOptions Options(const TestRedisServer& redis) {
  RedisTierOptions o;
  o.url = redis.url();
  o.key_prefix = "test:";
  return o;
}

TEST(RedisTier, ARecordSavedByOneTierIsLoadedBitForBitByAnother) {
  TestRedisServer redis;
  ASSERT_TRUE(redis.running()) << "redis-server did not start: `make test` installs it";
  auto writer = RedisTier::Open(Options(redis));
  auto reader = RedisTier::Open(Options(redis));
  ASSERT_TRUE(writer.ok() && reader.ok());
  EXPECT_TRUE(writer.value()->up());
  const auto record = KvRecord(77, 30, 3);
  auto none = reader.value()->Load(77, kShape);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  writer.value()->Save(record);
  ASSERT_TRUE(writer.value()->Flush(5000));
  auto got = reader.value()->Load(77, kShape);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().message();
  EXPECT_TRUE(SameRecord(**got, *record));
  const RemoteStats w = writer.value()->stats(), r = reader.value()->stats();
  EXPECT_EQ(w.writes, 1u);
  EXPECT_EQ(w.tokens_written, 30u);
  EXPECT_EQ(r.hits, 1u);
  EXPECT_EQ(r.misses, 1u);
  EXPECT_EQ(r.bytes_read, w.bytes_written);
}

TEST(RedisTier, ADamagedOrForeignValueIsDeletedAndNeverServed) {
  TestRedisServer redis;
  ASSERT_TRUE(redis.running());
  auto tier = RedisTier::Open(Options(redis));
  ASSERT_TRUE(tier.ok());
  RedisClient raw({{"127.0.0.1", redis.port(), 0}, "", 200, 500});
  const std::string value = EncodeRemoteValue(*KvRecord(5, 10, 4), RemoteFormat::kF16);
  std::string flipped = value;
  flipped[value.size() / 2] ^= 1;
  // Damaged bytes, a truncated value, and another chunk's (as another model's) value under this key.
  for (const std::string& bad : {flipped, value.substr(0, value.size() - 3), std::string("garbage"),
                                 EncodeRemoteValue(*KvRecord(6, 10, 4), RemoteFormat::kF16)}) {
    ASSERT_TRUE(raw.Set(tier.value()->KeyOf(5), bad).ok());
    auto got = tier.value()->Load(5, kShape);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), util::StatusCode::kCorrupt);
    auto left = raw.Exists(tier.value()->KeyOf(5));
    ASSERT_TRUE(left.ok());
    EXPECT_FALSE(left.value()) << "a damaged value was left in Redis";
  }
  EXPECT_EQ(tier.value()->stats().corrupt, 4u);
  EXPECT_TRUE(tier.value()->up());
}

TEST(RedisTier, RedisGoingAwayMakesMissesNotErrorsAndTheTierComesBackWithIt) {
  TestRedisServer redis;
  ASSERT_TRUE(redis.running());
  auto opened = RedisTier::Open(Options(redis));
  ASSERT_TRUE(opened.ok());
  RedisTier& tier = *opened.value();
  tier.Save(KvRecord(1, 8, 5));
  ASSERT_TRUE(tier.Flush(5000));
  redis.Kill();
  // The first lookup finds Redis gone (an error the store treats as a miss); later ones do not
  // even try, and writes are dropped rather than queued.
  EXPECT_EQ(tier.Load(1, kShape).status().code(), util::StatusCode::kUnavailable);
  EXPECT_FALSE(tier.up());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    auto got = tier.Load(1, kShape);
    ASSERT_TRUE(got.ok());
    EXPECT_FALSE(got->has_value());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100)) << "lookups waited for Redis";
  tier.Save(KvRecord(2, 8, 6));
  EXPECT_GE(tier.stats().skipped_down, 100u);
  EXPECT_GE(tier.stats().writes_dropped, 1u);

  ASSERT_TRUE(redis.Start());
  for (int i = 0; i < 100 && !tier.up(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(tier.up()) << "the tier did not reconnect";
  tier.Save(KvRecord(3, 8, 7));
  ASSERT_TRUE(tier.Flush(5000));
  auto got = tier.Load(3, kShape);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().message();
}

TEST(RedisTier, ARestartBetweenRequestsCostsNoLookupAndNoWrite) {
  TestRedisServer redis;
  ASSERT_TRUE(redis.running());
  auto opened = RedisTier::Open(Options(redis));
  ASSERT_TRUE(opened.ok());
  RedisTier& tier = *opened.value();
  tier.Save(KvRecord(1, 8, 12));
  ASSERT_TRUE(tier.Flush(5000));
  ASSERT_TRUE(tier.Load(1, kShape).ok());
  redis.Kill();  // both connections are now stale, and nothing has noticed
  ASSERT_TRUE(redis.Start());
  tier.Save(KvRecord(2, 8, 13));
  ASSERT_TRUE(tier.Flush(5000));
  auto got = tier.Load(2, kShape);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().message();
  EXPECT_TRUE(tier.up());
  EXPECT_EQ(tier.stats().errors, 0u);
  EXPECT_EQ(tier.stats().write_errors, 0u);
}

TEST(RedisTier, AKeyOfAnotherTypeIsDeletedLikeADamagedValueAndTheTierStaysUp) {
  TestRedisServer redis;
  ASSERT_TRUE(redis.running());
  auto tier = RedisTier::Open(Options(redis));
  ASSERT_TRUE(tier.ok());
  const std::string key = tier.value()->KeyOf(8);
  ASSERT_EQ(RawCommand(redis.port(), ("RPUSH " + key + " x").c_str()), "1");
  auto got = tier.value()->Load(8, kShape);
  EXPECT_EQ(got.status().code(), util::StatusCode::kCorrupt);
  EXPECT_EQ(RawCommand(redis.port(), ("EXISTS " + key).c_str()), "0");
  EXPECT_TRUE(tier.value()->up());
  EXPECT_EQ(tier.value()->stats().corrupt, 1u);
}

TEST(RedisTier, Int8ValuesComeBackWithinAStepThroughTheTier) {
  TestRedisServer redis;
  ASSERT_TRUE(redis.running());
  RedisTierOptions o = Options(redis);
  o.format = RemoteFormat::kInt8;
  auto writer = RedisTier::Open(o);
  auto reader = RedisTier::Open(Options(redis));  // a reader takes either format
  ASSERT_TRUE(writer.ok() && reader.ok());
  const auto record = KvRecord(4, 40, 14);
  writer.value()->Save(record);
  ASSERT_TRUE(writer.value()->Flush(5000));
  auto got = reader.value()->Load(4, kShape);
  ASSERT_TRUE(got.ok() && got->has_value());
  const auto* a = reinterpret_cast<const uint16_t*>(record->v.data());
  const auto* b = reinterpret_cast<const uint16_t*>((*got)->v.data());
  for (size_t i = 0; i < record->v.size() / 2; ++i) EXPECT_NEAR(tensor::Fp16ToFp32(a[i]), tensor::Fp16ToFp32(b[i]), 0.1);
  EXPECT_LT(writer.value()->stats().bytes_written, 0.7 * EncodeRemoteValue(*record, RemoteFormat::kF16).size());
}

TEST(RedisTier, APasswordIsSentAndAWrongOneIsRefusedAtOpen) {
  TestRedisServer redis({"--requirepass", "s3cret"});
  ASSERT_TRUE(redis.running());
  RedisTierOptions o = Options(redis);
  auto none = RedisTier::Open(o);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), util::StatusCode::kPermissionDenied);
  o.password = "wrong";
  EXPECT_EQ(RedisTier::Open(o).status().code(), util::StatusCode::kPermissionDenied);
  o.password = "s3cret";
  auto tier = RedisTier::Open(o);
  ASSERT_TRUE(tier.ok()) << tier.status().message();
  tier.value()->Save(KvRecord(9, 4, 8));
  ASSERT_TRUE(tier.value()->Flush(5000));
  auto got = tier.value()->Load(9, kShape);
  EXPECT_TRUE(got.ok() && got->has_value());
}

TEST(RedisTier, AnUnreachableRedisAtStartIsNotAnError) {
  RedisTierOptions o;
  o.url = "redis://127.0.0.1:1";  // nothing listens on port 1
  auto tier = RedisTier::Open(o);
  ASSERT_TRUE(tier.ok());
  EXPECT_FALSE(tier.value()->up());
  auto got = tier.value()->Load(1, kShape);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

TEST(RedisTier, AClusterTakesTheSameCodeWithValuesSpreadOverItsNodes) {
  TestRedisServer n1(TestRedisServer::ClusterNodeArgs()), n2(TestRedisServer::ClusterNodeArgs()),
      n3(TestRedisServer::ClusterNodeArgs());
  ASSERT_TRUE(n1.running() && n2.running() && n3.running());
  std::string create = "redis-cli --cluster create";
  for (const TestRedisServer* n : {&n1, &n2, &n3}) create += " 127.0.0.1:" + std::to_string(n->port());
  ASSERT_EQ(std::system((create + " --cluster-yes >/dev/null 2>&1").c_str()), 0) << "redis-cli (redis-tools) missing?";
  auto all_ok = [&] {
    for (const TestRedisServer* n : {&n1, &n2, &n3})
      if (RawCommand(n->port(), "CLUSTER INFO").find("cluster_state:ok") == std::string::npos) return false;
    return true;
  };
  for (int i = 0; i < 100 && !all_ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(all_ok()) << "the test cluster did not form";
  auto writer = RedisTier::Open(Options(n1));  // any node: the others are found by redirection
  auto reader = RedisTier::Open(Options(n2));
  ASSERT_TRUE(writer.ok() && reader.ok());
  for (uint64_t key = 1; key <= 24; ++key) writer.value()->Save(KvRecord(key, 6, static_cast<uint32_t>(key)));
  ASSERT_TRUE(writer.value()->Flush(10000));
  EXPECT_EQ(writer.value()->stats().writes, 24u);
  for (uint64_t key = 1; key <= 24; ++key) {
    auto got = reader.value()->Load(key, kShape);
    ASSERT_TRUE(got.ok() && got->has_value()) << key << ": " << got.status().message();
    EXPECT_TRUE(SameRecord(**got, *KvRecord(key, 6, static_cast<uint32_t>(key))));
  }
  for (const TestRedisServer* n : {&n1, &n2, &n3})
    EXPECT_GT(std::stoi(RawCommand(n->port(), "DBSIZE")), 0) << "node " << n->port() << " holds no value";
}

TEST(RedisTier, AReadOnlyReplicaServesReadsAndRefusedWritesDoNotTakeThemDown) {
  TestRedisServer primary;
  ASSERT_TRUE(primary.running());
  TestRedisServer replica({"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  ASSERT_TRUE(replica.running());
  auto writer = RedisTier::Open(Options(primary));
  auto reader = RedisTier::Open(Options(replica));
  ASSERT_TRUE(writer.ok() && reader.ok());
  writer.value()->Save(KvRecord(31, 8, 10));
  ASSERT_TRUE(writer.value()->Flush(5000));
  bool replicated = false;
  for (int i = 0; i < 200 && !replicated; ++i) {  // the replica may answer LOADING while it syncs
    auto got = reader.value()->Load(31, kShape);
    replicated = got.ok() && got->has_value();
    if (!replicated) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(replicated) << "the replica never served the primary's value";
  ASSERT_TRUE(reader.value()->up());
  reader.value()->Save(KvRecord(32, 8, 11));  // READONLY
  ASSERT_TRUE(reader.value()->Flush(5000));
  EXPECT_EQ(reader.value()->stats().write_errors, 1u);
  EXPECT_TRUE(reader.value()->up());
  auto again = reader.value()->Load(31, kShape);
  EXPECT_TRUE(again.ok() && again->has_value());
}

TEST(ChunkStoreWithRedis, AChunkPutByOneStoreIsARemoteHitOfAnotherKeptInItsRamNotOnItsDisk) {
  TestRedisServer redis;
  ASSERT_TRUE(redis.running());
  const std::string dir = std::string(KVFUSE_TEST_TMP) + "/remote-store-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  auto a_tier = RedisTier::Open(Options(redis));
  auto b_tier = RedisTier::Open(Options(redis));
  ASSERT_TRUE(a_tier.ok() && b_tier.ok());
  auto disk = DiskTier::Open(dir);
  ASSERT_TRUE(disk.ok());
  ChunkStore a(1 << 20, std::nullopt, std::move(a_tier).value());
  ChunkStore b(1 << 20, std::move(disk).value(), std::move(b_tier).value());
  const auto record = KvRecord(11, 12, 9);
  a.Put(record);
  ASSERT_TRUE(a.remote()->Flush(5000));
  auto hit = b.Get(11, kShape);
  ASSERT_NE(hit, nullptr);
  EXPECT_TRUE(SameRecord(*hit, *record));
  EXPECT_EQ(b.stats().remote_hits, 1u);
  b.FlushDisk();  // a disk copy would have been queued
  EXPECT_FALSE(std::filesystem::exists(dir + "/000000000000000b.kvc"));
  ASSERT_NE(b.Get(11, kShape), nullptr);
  EXPECT_EQ(b.stats().ram_hits, 1u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvfuse::store
