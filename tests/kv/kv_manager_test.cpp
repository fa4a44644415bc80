// The KV manager: block tables per sequence, no room as a value, eviction of unused cached
// prefixes, and sequences that start on a cached prefix share its blocks.
#include <gtest/gtest.h>

#include <numeric>

#include "kv/kv_manager.h"

namespace kvfuse::kv {
namespace {

constexpr KvGeometry kGeometry{1, 1, 4};

std::vector<int32_t> Range(int32_t begin, int32_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), begin);
  return v;
}

TEST(KvManager, ReservesWholeBlocksAndSaysNoRoomAsACode) {
  KvManager kv(kGeometry, 10, 4);  // rounded up: 3 blocks of 4
  EXPECT_EQ(kv.n_slots(), 12);
  ASSERT_TRUE(kv.Reserve(0, 5).ok());
  EXPECT_EQ(kv.blocks_used(), 2);
  ASSERT_TRUE(kv.Reserve(1, 4).ok());
  const util::Status full = kv.Reserve(1, 5);
  EXPECT_EQ(full.code(), util::StatusCode::kResourceExhausted) << full.message();
  EXPECT_EQ(kv.Reserve(2, 13).code(), util::StatusCode::kInvalidArgument);
  // Position p of a sequence lives in its table's block p / 4.
  const std::vector<int32_t> slots = kv.SlotsOf(0, 5);
  EXPECT_EQ(slots[4] / 4, kv.SlotOf(0, 4) / 4);
  EXPECT_NE(slots[0] / 4, slots[4] / 4);
  kv.Release(0);
  EXPECT_EQ(kv.blocks_used(), 1);
  EXPECT_FALSE(kv.contains(0));
}

TEST(KvManager, ReserveForDecodeNamesTheFirstSequenceWithoutRoom) {
  KvManager kv(kGeometry, 8, 4);
  ASSERT_TRUE(kv.Reserve(0, 4).ok());
  kv.SetLength(0, 4);
  ASSERT_TRUE(kv.Reserve(1, 3).ok());
  kv.SetLength(1, 3);
  EXPECT_EQ(kv.ReserveForDecode({1, 0}), 1);  // 1 fits its block; 0 needs a third block
  EXPECT_EQ(kv.ReserveForDecode({7}), 0);     // not live
}

TEST(KvManager, SequencesStartOnCachedPrefixBlocksAndEvictionFreesUnusedOnes) {
  KvManager kv(kGeometry, 16, 4);
  const std::vector<int32_t> tokens = Range(100, 10);
  ASSERT_TRUE(kv.Reserve(0, 10).ok());
  kv.SetLength(0, 10);
  kv.CachePrefix(0, tokens);  // two full blocks cached
  EXPECT_EQ(kv.cached_prefix_blocks(), 2);
  EXPECT_EQ(kv.CachedPrefixLength(tokens), 8);

  kv.StartOnCachedPrefix(1, tokens, 8);
  EXPECT_EQ(kv.length(1), 8);
  EXPECT_EQ(kv.blocks_used(), 3);
  ASSERT_TRUE(kv.Reserve(1, 12).ok());
  // Sequence 1 sees the shared blocks at positions 0..7, then its own block.
  const std::vector<int32_t> shared = kv.SlotsOf(1, 12);
  EXPECT_EQ(std::vector<int32_t>(shared.begin(), shared.begin() + 8), kv.SlotsOf(0, 8));
  EXPECT_NE(shared[8] / 4, kv.SlotOf(0, 8) / 4);
  kv.Release(0);
  EXPECT_EQ(kv.SlotsOf(1, 12), shared);
  EXPECT_EQ(kv.blocks_used(), 3);  // two shared with the tree, one of sequence 1

  kv.ReleaseAll();
  EXPECT_EQ(kv.blocks_used(), 2);  // only the tree's blocks
  ASSERT_TRUE(kv.Reserve(2, 16).ok()) << "the unused cached blocks are evicted to make room";
  EXPECT_EQ(kv.cached_prefix_blocks(), 0);
  kv.ClearPrefixCache();
  kv.Release(2);
  EXPECT_EQ(kv.blocks_used(), 0);
}

// A reservation that cannot be met even by evicting every unused cached prefix evicts none:
// a request retried each iteration flushed the prefix cache each time, for nothing.
TEST(KvManager, AReservationThatCannotFitEvictsNothing) {
  KvManager kv(kGeometry, 16, 4);  // 4 blocks
  const std::vector<int32_t> tokens = Range(100, 8);
  ASSERT_TRUE(kv.Reserve(0, 8).ok());
  kv.SetLength(0, 8);
  kv.CachePrefix(0, tokens);  // two blocks, cached and then unused
  kv.Release(0);
  ASSERT_TRUE(kv.Reserve(1, 4).ok());  // one block of a live sequence
  EXPECT_EQ(kv.Reserve(2, 16).code(), util::StatusCode::kResourceExhausted);  // needs 4: 1 free + 2 evictable
  EXPECT_EQ(kv.cached_prefix_blocks(), 2) << "the cached prefix was evicted for a reservation that failed";
  EXPECT_FALSE(kv.contains(2) && kv.capacity(2) > 0) << "a failed reservation holds no block";
  ASSERT_TRUE(kv.Reserve(2, 12).ok()) << "3 blocks: the free one and both cached ones";
  EXPECT_EQ(kv.cached_prefix_blocks(), 0);
}

}  // namespace
}  // namespace kvfuse::kv
