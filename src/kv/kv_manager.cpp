#include "kv/kv_manager.h"

namespace kvfuse::kv {

using util::Status;

namespace {

int32_t RoundUp(int32_t n, int32_t multiple) { return (n + multiple - 1) / multiple * multiple; }

}  // namespace

KvManager::KvManager(const KvGeometry& geometry, int32_t n_ctx, int32_t block_size)
    : cache_(geometry, RoundUp(n_ctx, block_size)),
      pool_(cache_.n_slots() / block_size, block_size),
      tree_(std::make_unique<PrefixTree>(pool_)) {}

int32_t KvManager::length(int32_t seq) const {
  const auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.len;
}

void KvManager::SetLength(int32_t seq, int32_t n) {
  Sequence& s = seqs_.at(seq);
  KVFUSE_CHECK(n >= 0 && n <= static_cast<int32_t>(s.table.size()) * block_size());
  s.len = n;
}

Status KvManager::Reserve(int32_t seq, int32_t n_positions) {
  if (n_positions > n_slots())
    return Status::InvalidArgument(
        util::StrFormat("%d tokens do not fit the context of %d", n_positions, n_slots()));
  Sequence& s = seqs_[seq];
  // All or nothing: cached prefixes are evicted only when that makes room for the whole
  // request (a request retried each iteration flushed the prefix cache each time, for nothing).
  const int32_t needed = (n_positions + block_size() - 1) / block_size() - static_cast<int32_t>(s.table.size());
  if (needed > pool_.n_free() && needed > pool_.n_free() + tree_->EvictableBlocks())
    return Status::ResourceExhausted(util::StrFormat("the KV cache is full (%d blocks of %d tokens in use)",
                                                     pool_.n_blocks(), block_size()));
  while (static_cast<int32_t>(s.table.size()) * block_size() < n_positions) {
    std::optional<int32_t> block = pool_.Allocate();
    if (!block && tree_->Evict(1) == 1) block = pool_.Allocate();
    if (!block)
      return Status::ResourceExhausted(util::StrFormat("the KV cache is full (%d blocks of %d tokens in use)",
                                                       pool_.n_blocks(), block_size()));
    s.table.push_back(*block);
  }
  return Status::Ok();
}

int32_t KvManager::ReserveForDecode(const std::vector<int32_t>& seqs) {
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (!seqs_.count(seqs[i]) || !Reserve(seqs[i], length(seqs[i]) + 1).ok()) return static_cast<int32_t>(i);
  }
  return -1;
}

int32_t KvManager::capacity(int32_t seq) const {
  const auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : static_cast<int32_t>(it->second.table.size()) * block_size();
}

int32_t KvManager::SlotOf(int32_t seq, int32_t pos) const {
  return kv::SlotOf(seqs_.at(seq).table, block_size(), pos);
}

std::vector<int32_t> KvManager::SlotsOf(int32_t seq, int32_t n_positions) const {
  const Sequence& s = seqs_.at(seq);
  std::vector<int32_t> slots(n_positions);
  for (int32_t p = 0; p < n_positions; ++p) slots[p] = kv::SlotOf(s.table, block_size(), p);
  return slots;
}

int32_t KvManager::CachedPrefixLength(const std::vector<int32_t>& tokens) {
  return static_cast<int32_t>(tree_->Match(tokens).size()) * block_size();
}

void KvManager::StartOnCachedPrefix(int32_t seq, const std::vector<int32_t>& tokens, int32_t n_tokens) {
  Release(seq);
  const int32_t bs = block_size();
  const std::vector<int32_t> matched = tree_->Match(tokens);
  KVFUSE_CHECK(n_tokens % bs == 0 && n_tokens / bs <= static_cast<int32_t>(matched.size()));
  Sequence& s = seqs_[seq];
  for (int32_t i = 0; i < n_tokens / bs; ++i) {
    pool_.Retain(matched[i]);
    s.table.push_back(matched[i]);
  }
  s.len = n_tokens;
}

void KvManager::CachePrefix(int32_t seq, const std::vector<int32_t>& tokens) {
  const auto it = seqs_.find(seq);
  if (it == seqs_.end() || it->second.len < static_cast<int32_t>(tokens.size())) return;
  tree_->Insert(tokens, it->second.table);
}

void KvManager::SetContextReshape(int32_t seq, std::optional<ContextReshape> reshape) {
  seqs_.at(seq).reshape = reshape;
}

const ContextReshape* KvManager::ContextReshapeOf(int32_t seq) const {
  const auto it = seqs_.find(seq);
  return it == seqs_.end() || !it->second.reshape ? nullptr : &*it->second.reshape;
}

void KvManager::Release(int32_t seq) {
  const auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  for (int32_t b : it->second.table) pool_.Release(b);
  seqs_.erase(it);
}

void KvManager::ReleaseAll() {
  while (!seqs_.empty()) Release(seqs_.begin()->first);
}

void KvManager::ClearPrefixCache() {
  tree_ = std::make_unique<PrefixTree>(pool_);  // the old tree releases its blocks
}

}  // namespace kvfuse::kv
