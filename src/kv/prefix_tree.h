// A radix tree over token ids whose edges are whole KV blocks (SGLang's RadixAttention
// at block granularity): the path from the root spells a token prefix and each node
// holds the block with that prefix's last block_size tokens. Match finds the longest
// cached block-aligned prefix of a prompt; Insert caches a sequence's full blocks; Evict
// frees the least recently used leaves that no sequence uses (pool reference count 1,
// the tree's own) and that are not pinned.
//
// Threading: not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "kv/block_pool.h"

namespace kvfuse::kv {

class PrefixTree {
 public:
  explicit PrefixTree(BlockPool& pool) : pool_(pool) {}
  ~PrefixTree();
  PrefixTree(const PrefixTree&) = delete;
  PrefixTree& operator=(const PrefixTree&) = delete;

  // Blocks of the longest cached prefix of `tokens` made of full blocks (marks them used).
  std::vector<int32_t> Match(const std::vector<int32_t>& tokens);
  // Caches the full blocks of a sequence: table[i] holds tokens [i*bs, (i+1)*bs). Where
  // another block is cached for the same tokens, the sequence's block replaces it, so
  // that a prompt recomputed from scratch does not pin two copies.
  void Insert(const std::vector<int32_t>& tokens, const std::vector<int32_t>& table);
  // Frees up to n unused, unpinned leaf blocks, least recently used first; returns how many.
  int32_t Evict(int32_t n);
  // How many blocks Evict could free, all evictions included (a leaf freed makes its
  // parent a leaf): those no sequence uses, unpinned, with no such block below them.
  int32_t EvictableBlocks() const;
  // Pinned prefixes (e.g. a system prompt) are never evicted.
  void Pin(const std::vector<int32_t>& tokens, bool pinned);

  int32_t n_cached_blocks() const { return n_nodes_; }

 private:
  struct Node {
    int32_t block = -1;
    uint64_t last_use = 0;
    bool pinned = false;
    Node* parent = nullptr;
    std::vector<int32_t> key;  // this edge's block_size tokens
    std::map<std::vector<int32_t>, std::unique_ptr<Node>> children;
  };
  void ReleaseAll(Node& node);
  // Whether `node` and everything below it could be evicted; adds those below (and it,
  // unless it is the root) that could to *count.
  bool CountEvictable(const Node& node, int32_t* count) const;

  BlockPool& pool_;
  Node root_;
  uint64_t clock_ = 0;
  int32_t n_nodes_ = 0;
};

}  // namespace kvfuse::kv
