// The chunk store: disk files round-trip bit for bit, every kind of damage is detected
// and never served, writes leave no partial files, and the RAM tier evicts by value.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "store/chunk_store.h"

namespace kvfuse::store {

namespace {

std::string TempDir(const std::string& name) {
  const std::string dir = std::string(KVFUSE_TEST_TMP) + "/store-" + std::to_string(getpid()) + "-" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::shared_ptr<ChunkRecord> RandomRecord(uint64_t key, uint32_t n_tokens, ChunkShape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> tokens(n_tokens);
  for (auto& t : tokens) t = static_cast<int32_t>(rng() % 1000);
  auto r = std::make_shared<ChunkRecord>();
  r->key = key;
  r->context_hash = rng();
  r->Resize(shape, tokens);
  for (auto& b : r->k) b = static_cast<uint8_t>(rng());
  for (auto& b : r->v) b = static_cast<uint8_t>(rng());
  r->token_scores.resize(n_tokens);
  for (auto& s : r->token_scores) s = static_cast<float>(rng() % 100) / 7.0f;
  r->context_chunks = {rng(), rng()};
  r->context_weights = {0.25f, 0.75f};
  r->cci = 0.6f;
  return r;
}

constexpr ChunkShape kShape{3, 16};

void FlipByte(const std::string& path, long offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset, offset < 0 ? std::ios::end : std::ios::beg);
  char c;
  f.read(&c, 1);
  f.seekp(offset, offset < 0 ? std::ios::end : std::ios::beg);
  c ^= 0x5a;
  f.write(&c, 1);
}

// The pid of a process that has exited (and been reaped).
int DeadPid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

}  // namespace

TEST(DiskTier, RoundTripIsBitIdentical) {
  auto disk = DiskTier::Open(TempDir("roundtrip"));
  ASSERT_TRUE(disk.ok()) << disk.status().message();
  const auto r = RandomRecord(42, 17, kShape, 1);
  ASSERT_TRUE(disk->Save(*r).ok());
  auto loaded = disk->Load(42, kShape);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_TRUE(loaded->has_value());
  const ChunkRecord& got = **loaded;
  EXPECT_EQ(got.tokens, r->tokens);
  EXPECT_EQ(got.k, r->k);
  EXPECT_EQ(got.v, r->v);
  EXPECT_EQ(got.token_scores, r->token_scores);
  EXPECT_EQ(got.context_hash, r->context_hash);
  EXPECT_EQ(got.context_chunks, r->context_chunks);
  EXPECT_EQ(got.context_weights, r->context_weights);
  EXPECT_EQ(got.cci, r->cci);
  // Only the final file remains: the temporary one was renamed.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(disk->dir())) {
    ++files;
    EXPECT_EQ(e.path().extension(), ".kvc") << e.path();
  }
  EXPECT_EQ(files, 1);
}

TEST(DiskTier, MissingFileIsAMissNotAnError) {
  auto disk = DiskTier::Open(TempDir("missing"));
  ASSERT_TRUE(disk.ok());
  auto loaded = disk->Load(7, kShape);
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

TEST(DiskTier, EveryKindOfDamageIsDetectedAndTheFileRemoved) {
  struct Damage {
    const char* name;
    std::function<void(const std::string&)> apply;
  };
  const Damage damages[] = {
      {"payload byte", [](const std::string& p) { FlipByte(p, -5); }},
      {"header byte", [](const std::string& p) { FlipByte(p, 20); }},
      {"magic", [](const std::string& p) { FlipByte(p, 0); }},
      {"truncated", [](const std::string& p) { std::filesystem::resize_file(p, std::filesystem::file_size(p) - 3); }},
      {"tiny", [](const std::string& p) { std::filesystem::resize_file(p, 10); }},
      {"extended", [](const std::string& p) { std::ofstream(p, std::ios::app) << "junk"; }},
      {"empty", [](const std::string& p) { std::filesystem::resize_file(p, 0); }},
  };
  for (const Damage& d : damages) {
    auto disk = DiskTier::Open(TempDir("damage"));
    ASSERT_TRUE(disk.ok());
    ASSERT_TRUE(disk->Save(*RandomRecord(9, 5, kShape, 2)).ok());
    d.apply(disk->PathOf(9));
    auto loaded = disk->Load(9, kShape);
    ASSERT_FALSE(loaded.ok()) << d.name;
    EXPECT_EQ(loaded.status().code(), util::StatusCode::kCorrupt) << d.name;
    EXPECT_FALSE(disk->Contains(9)) << d.name << ": an unusable file must be removed";
  }
}

// A file whose size is not the one its header declares is refused from its header, before
// its pages are read in (a forged or damaged file may be of any size).
TEST(DiskTier, AFileOfAnotherSizeThanItsHeaderDeclaresIsRefusedFromTheHeader) {
  auto disk = DiskTier::Open(TempDir("size"));
  ASSERT_TRUE(disk.ok());
  ASSERT_TRUE(disk->Save(*RandomRecord(9, 5, kShape, 2)).ok());
  std::filesystem::resize_file(disk->PathOf(9), std::filesystem::file_size(disk->PathOf(9)) + (8 << 20));
  auto loaded = disk->Load(9, kShape);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), util::StatusCode::kCorrupt);
  EXPECT_NE(loaded.status().message().find("header declares"), std::string::npos) << loaded.status().message();
  EXPECT_FALSE(disk->Contains(9));
}

TEST(DiskTier, OtherShapeOrOtherKeyIsRejected) {
  auto disk = DiskTier::Open(TempDir("shape"));
  ASSERT_TRUE(disk.ok());
  ASSERT_TRUE(disk->Save(*RandomRecord(5, 4, kShape, 3)).ok());
  EXPECT_FALSE(disk->Load(5, ChunkShape{3, 32}).ok());
  // A file renamed to another chunk's name holds the wrong key.
  ASSERT_TRUE(disk->Save(*RandomRecord(5, 4, kShape, 3)).ok());
  std::filesystem::rename(disk->PathOf(5), disk->PathOf(6));
  EXPECT_FALSE(disk->Load(6, kShape).ok());
}

TEST(DiskTier, UnwritableDirectoryIsAnError) {
  EXPECT_FALSE(DiskTier::Open("/proc/kvfuse-cannot-exist").ok());
}

TEST(ChunkStore, DiskHitAfterRamDropAndCorruptFileIsAMiss) {
  const std::string dir = TempDir("store");
  auto disk = DiskTier::Open(dir);
  ASSERT_TRUE(disk.ok());
  ChunkStore store(1 << 20, std::move(disk).value());
  auto r = RandomRecord(11, 8, kShape, 4);
  store.Put(r);
  EXPECT_EQ(store.Get(11, kShape), r);
  store.DropRam();
  auto from_disk = store.Get(11, kShape);
  ASSERT_NE(from_disk, nullptr);
  EXPECT_EQ(from_disk->k, r->k);
  EXPECT_EQ(store.stats().ram_hits, 1u);
  EXPECT_EQ(store.stats().disk_hits, 1u);

  store.DropRam();
  FlipByte(dir + "/000000000000000b.kvc", -1);
  EXPECT_EQ(store.Get(11, kShape), nullptr);
  EXPECT_EQ(store.stats().corrupt, 1u);
  EXPECT_EQ(store.stats().misses, 1u);
}

// Disk writes leave Put for a writer thread: FlushDisk, DropRam and the store's end wait for
// them, and a write that fails is counted, the chunk still served from RAM.
TEST(ChunkStore, QueuedDiskWritesAreOnDiskAfterAFlushAndAtTheStoresEnd) {
  const std::string dir = TempDir("queued");
  std::vector<std::shared_ptr<ChunkRecord>> records;
  for (uint32_t i = 0; i < 20; ++i) records.push_back(RandomRecord(100 + i, 8, kShape, i));
  {
    auto disk = DiskTier::Open(dir);
    ASSERT_TRUE(disk.ok());
    ChunkStore store(1 << 20, std::move(disk).value());
    for (int i = 0; i < 10; ++i) store.Put(records[i]);
    store.FlushDisk();
    for (int i = 0; i < 10; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "/%016llx.kvc", static_cast<unsigned long long>(records[i]->key));
      EXPECT_TRUE(std::filesystem::exists(dir + name)) << name;
    }
    for (int i = 10; i < 20; ++i) store.Put(records[i]);
  }  // the store ends with writes queued
  auto disk = DiskTier::Open(dir);
  ASSERT_TRUE(disk.ok());
  for (const auto& r : records) {
    auto loaded = disk->Load(r->key, kShape);
    ASSERT_TRUE(loaded.ok() && loaded.value().has_value()) << r->key;
    EXPECT_EQ(loaded.value()->k, r->k);
  }

  ChunkStore store(1 << 20, std::move(disk).value());
  std::filesystem::remove_all(dir);  // every write fails from now on
  store.Put(records[0]);
  store.FlushDisk();
  EXPECT_EQ(store.stats().disk_write_errors, 1u);
  EXPECT_EQ(store.Get(records[0]->key, kShape), records[0]);
}

TEST(DiskTier, OpenRemovesTemporariesOfKilledWriters) {
  const std::string dir = TempDir("stale");
  {
    auto disk = DiskTier::Open(dir);
    ASSERT_TRUE(disk.ok());
    ASSERT_TRUE(disk->Save(*RandomRecord(3, 4, kShape, 9)).ok());
    // What a writer killed (SIGKILL) between creating and renaming its file leaves.
    const std::string dead = std::to_string(DeadPid());
    std::ofstream(disk->PathOf(4) + ".tmp." + dead + ".0") << "half";
    std::ofstream(disk->PathOf(5) + ".tmp." + dead + ".1") << "half";
    // A writer of a running process (this one) is left alone, as is what is not a temporary.
    std::ofstream(disk->PathOf(6) + ".tmp." + std::to_string(getpid()) + ".2") << "half";
    std::ofstream(dir + "/notes.txt") << "mine";
  }
  testing::internal::CaptureStderr();
  auto disk = DiskTier::Open(dir);
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(disk.ok());
  EXPECT_EQ(log, "kvfuse: " + dir + ": removed 2 temporary files left by interrupted writes\n");
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left[0], "0000000000000003.kvc");
  EXPECT_EQ(left[1], "0000000000000006.kvc.tmp." + std::to_string(getpid()) + ".2");
  EXPECT_EQ(left[2], "notes.txt");
  ASSERT_TRUE(disk->Load(3, kShape).ok());
}

TEST(ChunkStore, EveryCorruptFileIsLoggedOnceAndCounted) {
  const std::string dir = TempDir("corrupt-log");
  auto disk = DiskTier::Open(dir);
  ASSERT_TRUE(disk.ok());
  ChunkStore store(1 << 20, std::move(disk).value());
  store.Put(RandomRecord(11, 8, kShape, 4));
  store.Put(RandomRecord(12, 8, kShape, 5));
  store.DropRam();
  FlipByte(dir + "/000000000000000b.kvc", -1);  // payload
  FlipByte(dir + "/000000000000000c.kvc", 20);  // header
  testing::internal::CaptureStderr();
  EXPECT_EQ(store.Get(11, kShape), nullptr);
  EXPECT_EQ(store.Get(12, kShape), nullptr);
  EXPECT_EQ(store.Get(11, kShape), nullptr);  // the file is gone: a plain miss, not logged again
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(log, "kvfuse: " + dir + "/000000000000000b.kvc: payload checksum mismatch; recomputing\n" +
                     "kvfuse: " + dir + "/000000000000000c.kvc: header checksum mismatch; recomputing\n");
  EXPECT_EQ(store.stats().corrupt, 2u);
  EXPECT_EQ(store.corrupt_total(), 2u);
  EXPECT_EQ(store.stats().misses, 3u);
}

TEST(RamTier, EvictsTheLeastValuableRecordFirst) {
  const auto a = RandomRecord(1, 10, kShape, 5);
  const auto b = RandomRecord(2, 10, kShape, 6);
  const auto c = RandomRecord(3, 10, kShape, 7);
  RamTier ram(a->bytes() * 2 + 1);
  ASSERT_TRUE(ram.Put(a));
  ASSERT_TRUE(ram.Put(b));
  ASSERT_NE(ram.Get(1), nullptr);  // a is reused, b is not
  ASSERT_TRUE(ram.Put(c));
  EXPECT_NE(ram.Get(1), nullptr);
  EXPECT_EQ(ram.Get(2), nullptr);
  EXPECT_NE(ram.Get(3), nullptr);
  EXPECT_EQ(ram.evictions(), 1u);
  EXPECT_LE(ram.used_bytes(), ram.budget_bytes());
}

TEST(RamTier, RecordLargerThanTheBudgetIsNotKept) {
  RamTier ram(100);
  EXPECT_FALSE(ram.Put(RandomRecord(1, 10, kShape, 8)));
  EXPECT_EQ(ram.size(), 0u);
}

}  // namespace kvfuse::store
