// The block pool's reference counts and the prefix tree's matching, sharing and LRU
// eviction (sequences' views of the cells: kv_manager_test).
#include <gtest/gtest.h>

#include <numeric>

#include "kv/block_pool.h"
#include "kv/prefix_tree.h"

namespace kvfuse::kv {

namespace {

std::vector<int32_t> Range(int32_t begin, int32_t n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), begin);
  return v;
}

std::vector<int32_t> AllocateN(BlockPool& pool, int n) {
  std::vector<int32_t> table;
  for (int i = 0; i < n; ++i) table.push_back(*pool.Allocate());
  return table;
}

}  // namespace

TEST(BlockPool, BlocksAreFreeOnlyWhenEveryReferenceIsGone) {
  BlockPool pool(3, 4);
  const int32_t a = *pool.Allocate(), b = *pool.Allocate(), c = *pool.Allocate();
  EXPECT_FALSE(pool.Allocate().has_value());
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  pool.Retain(b);
  pool.Release(b);
  EXPECT_EQ(pool.n_free(), 0);
  pool.Release(b);
  EXPECT_EQ(pool.n_free(), 1);
  EXPECT_EQ(*pool.Allocate(), b);
  EXPECT_EQ(SlotOf({2, 0}, 4, 5), 1);
  EXPECT_EQ(SlotOf({2, 0}, 4, 3), 11);
}

TEST(PrefixTree, MatchesTheLongestCachedBlockAlignedPrefix) {
  BlockPool pool(16, 4);
  PrefixTree tree(pool);
  const std::vector<int32_t> tokens = Range(100, 10);  // 2 full blocks + 2 tokens
  const std::vector<int32_t> table = AllocateN(pool, 3);
  tree.Insert(tokens, table);
  EXPECT_EQ(tree.n_cached_blocks(), 2);
  EXPECT_EQ(pool.ref_count(table[0]), 2);  // the sequence and the tree
  EXPECT_EQ(pool.ref_count(table[2]), 1);  // partial block: not cached

  EXPECT_EQ(tree.Match(tokens), std::vector<int32_t>(table.begin(), table.begin() + 2));
  std::vector<int32_t> other = tokens;
  other[5] = 7;  // differs inside the second block
  EXPECT_EQ(tree.Match(other), std::vector<int32_t>{table[0]});
  other[0] = 7;
  EXPECT_TRUE(tree.Match(other).empty());
  EXPECT_TRUE(tree.Match(Range(100, 3)).empty());  // shorter than a block
}

TEST(PrefixTree, EvictsOnlyUnusedUnpinnedLeavesLeastRecentlyUsedFirst) {
  BlockPool pool(8, 2);
  PrefixTree tree(pool);
  const std::vector<int32_t> a = {1, 2, 3, 4}, b = {1, 2, 5, 6}, c = {9, 9};
  for (const auto& tokens : {a, b, c}) {
    std::vector<int32_t> table;
    for (int32_t blk : tree.Match(tokens)) table.push_back(blk);  // shared prefix blocks
    for (int32_t blk : table) pool.Retain(blk);
    while (table.size() * 2 < tokens.size()) table.push_back(*pool.Allocate());
    tree.Insert(tokens, table);
    for (int32_t blk : table) pool.Release(blk);  // the sequence ends
  }
  EXPECT_EQ(tree.n_cached_blocks(), 4);  // [1,2] shared by a and b
  tree.Match(a);                         // a is now the most recently used
  tree.Pin(c, true);
  EXPECT_EQ(tree.Evict(1), 1);  // b's leaf [5,6]: least recently used, unpinned
  EXPECT_EQ(tree.Match(b).size(), 1u);
  EXPECT_EQ(tree.Match(a).size(), 2u);
  // A block a sequence still uses is never evicted.
  const std::vector<int32_t> in_use = tree.Match(a);
  for (int32_t blk : in_use) pool.Retain(blk);
  EXPECT_EQ(tree.Evict(10), 0);  // [3,4] in use, [1,2] has a child, c pinned
  for (int32_t blk : in_use) pool.Release(blk);
  EXPECT_EQ(tree.Evict(10), 2);  // [3,4] then [1,2]
  EXPECT_EQ(tree.n_cached_blocks(), 1);
  EXPECT_EQ(pool.n_free(), 7);
}

TEST(PrefixTree, ARecomputedPrefixReplacesTheCachedCopy) {
  BlockPool pool(4, 2);
  PrefixTree tree(pool);
  const std::vector<int32_t> tokens = {1, 2, 3, 4};
  std::vector<int32_t> first = AllocateN(pool, 2);
  tree.Insert(tokens, first);
  for (int32_t b : first) pool.Release(b);
  std::vector<int32_t> second = AllocateN(pool, 2);  // the same tokens computed again
  tree.Insert(tokens, second);
  EXPECT_EQ(tree.Match(tokens), second);
  EXPECT_EQ(pool.n_free(), 2);  // the first copy went back to the pool
  for (int32_t b : second) EXPECT_EQ(pool.ref_count(b), 2);
}

}  // namespace kvfuse::kv
