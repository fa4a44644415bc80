// The paged KV cache: the cell storage (KvCache), its blocks (BlockPool), the prefix tree
// that shares full blocks of exactly computed KV between prompts, and every live sequence's
// block table and length (sequence ids chosen by the caller). A sequence's block table is
// the one record of which cells hold its positions: position p lives in
// SlotOf(seq, p), and attention for a token at position p reads positions 0..p of its
// sequence (a sliding window's part of them) through the table (so every position a token attends to is written first).
//
// No room is a value: Reserve returns StatusCode::kResourceExhausted when the pool has no
// free block even after evicting unused cached prefixes; ReserveForDecode returns the index
// of the first sequence that found none.
//
// Threading: not synchronised; the runtime's one model thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "kv/block_pool.h"
#include "kv/kv_cache.h"
#include "kv/prefix_tree.h"
#include "util/status.h"

namespace kvfuse::kv {

// How a sequence's tokens after positions [begin, end) attend to them: logits divided by
// `temperature`, the range's log-sum-exp multiplied by `lse_scale` (APE's attention to
// parallel-encoded chunks; model/blocks/attention_block applies it).
struct ContextReshape {
  int32_t begin = 0, end = 0;
  float temperature = 1.0f, lse_scale = 1.0f;
};

class KvManager {
 public:
  // n_ctx is rounded up to whole blocks.
  KvManager(const KvGeometry& geometry, int32_t n_ctx, int32_t block_size);
  KvManager(const KvManager&) = delete;  // the prefix tree refers to the pool
  KvManager& operator=(const KvManager&) = delete;

  KvCache& cache() { return cache_; }
  const KvCache& cache() const { return cache_; }
  int32_t n_slots() const { return cache_.n_slots(); }
  int32_t block_size() const { return pool_.block_size(); }
  const BlockPool& pool() const { return pool_; }
  int64_t blocks_used() const { return pool_.n_blocks() - pool_.n_free(); }
  int64_t blocks_total() const { return pool_.n_blocks(); }
  int32_t cached_prefix_blocks() const { return tree_->n_cached_blocks(); }

  bool contains(int32_t seq) const { return seqs_.count(seq) != 0; }
  // Positions of `seq` that hold KV (0 for a sequence that is not live).
  int32_t length(int32_t seq) const;
  // Records that `seq` holds KV for positions [0, n); its blocks must cover them.
  void SetLength(int32_t seq, int32_t n);

  // Makes `seq` (live from now on) hold blocks for positions [0, n_positions), taking
  // free blocks and evicting unused cached prefixes when none is free.
  util::Status Reserve(int32_t seq, int32_t n_positions);
  // One more position for each sequence, in order; the index of the first that found no
  // free block (or is not live), or -1.
  int32_t ReserveForDecode(const std::vector<int32_t>& seqs);
  // Positions `seq`'s blocks cover (0 for a sequence that is not live).
  int32_t capacity(int32_t seq) const;
  // Slot of position `pos` of `seq` (within its blocks).
  int32_t SlotOf(int32_t seq, int32_t pos) const;
  // Slots of positions [0, n_positions) of `seq`, by position.
  std::vector<int32_t> SlotsOf(int32_t seq, int32_t n_positions) const;

  // How many leading tokens of `tokens` the prefix tree holds (whole blocks).
  int32_t CachedPrefixLength(const std::vector<int32_t>& tokens);
  // Starts `seq` anew on the cached blocks of the first `n_tokens` of `tokens`: a multiple
  // of the block size, at most CachedPrefixLength(tokens). Its length is then n_tokens.
  void StartOnCachedPrefix(int32_t seq, const std::vector<int32_t>& tokens, int32_t n_tokens);
  // Offers `seq`'s full blocks for `tokens`, its first positions (exactly computed KV), to
  // the prefix tree. Ignored when the sequence holds fewer positions.
  void CachePrefix(int32_t seq, const std::vector<int32_t>& tokens);

  // Sets how `seq`'s later tokens attend to a range of it (nullopt: plainly), until the
  // sequence ends or this is called again (every fused prefill does).
  void SetContextReshape(int32_t seq, std::optional<ContextReshape> reshape);
  // nullptr when none was set (or `seq` is not live).
  const ContextReshape* ContextReshapeOf(int32_t seq) const;
  // Ends a sequence: its blocks back to the pool (the tree keeps what it caches).
  void Release(int32_t seq);
  void ReleaseAll();
  // Empties the prefix tree.
  void ClearPrefixCache();

 private:
  struct Sequence {
    std::vector<int32_t> table;  // its blocks, by position / block size
    int32_t len = 0;
    std::optional<ContextReshape> reshape;
  };

  KvCache cache_;
  BlockPool pool_;
  std::unique_ptr<PrefixTree> tree_;
  std::map<int32_t, Sequence> seqs_;
};

}  // namespace kvfuse::kv
