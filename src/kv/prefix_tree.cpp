#include "kv/prefix_tree.h"

#include <algorithm>

namespace kvfuse::kv {

PrefixTree::~PrefixTree() { ReleaseAll(root_); }

void PrefixTree::ReleaseAll(Node& node) {
  for (auto& [key, child] : node.children) {
    ReleaseAll(*child);
    pool_.Release(child->block);
  }
  node.children.clear();
}

std::vector<int32_t> PrefixTree::Match(const std::vector<int32_t>& tokens) {
  const size_t bs = pool_.block_size();
  std::vector<int32_t> blocks;
  Node* node = &root_;
  const uint64_t now = ++clock_;
  for (size_t begin = 0; begin + bs <= tokens.size(); begin += bs) {
    const std::vector<int32_t> key(tokens.begin() + begin, tokens.begin() + begin + bs);
    auto it = node->children.find(key);
    if (it == node->children.end()) break;
    node = it->second.get();
    node->last_use = now;
    blocks.push_back(node->block);
  }
  return blocks;
}

void PrefixTree::Insert(const std::vector<int32_t>& tokens, const std::vector<int32_t>& table) {
  const size_t bs = pool_.block_size();
  Node* node = &root_;
  const uint64_t now = ++clock_;
  for (size_t i = 0; (i + 1) * bs <= tokens.size() && i < table.size(); ++i) {
    std::vector<int32_t> key(tokens.begin() + i * bs, tokens.begin() + (i + 1) * bs);
    auto it = node->children.find(key);
    if (it == node->children.end()) {
      auto child = std::make_unique<Node>();
      child->block = table[i];
      child->parent = node;
      child->key = key;
      pool_.Retain(table[i]);
      ++n_nodes_;
      it = node->children.emplace(std::move(key), std::move(child)).first;
    }
    node = it->second.get();
    if (node->block != table[i]) {
      pool_.Retain(table[i]);
      pool_.Release(node->block);
      node->block = table[i];
    }
    node->last_use = now;
  }
}

int32_t PrefixTree::Evict(int32_t n) {
  int32_t evicted = 0;
  while (evicted < n) {
    // The least recently used leaf that only the tree references.
    Node* victim = nullptr;
    std::vector<Node*> stack{&root_};
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      for (auto& [key, child] : node->children) stack.push_back(child.get());
      if (node == &root_ || !node->children.empty() || node->pinned) continue;
      if (pool_.ref_count(node->block) != 1) continue;
      if (!victim || node->last_use < victim->last_use) victim = node;
    }
    if (!victim) break;
    pool_.Release(victim->block);
    const std::vector<int32_t> key = victim->key;  // erasing destroys the node holding it
    victim->parent->children.erase(key);
    --n_nodes_;
    ++evicted;
  }
  return evicted;
}

bool PrefixTree::CountEvictable(const Node& node, int32_t* count) const {
  bool whole = true;
  for (const auto& [key, child] : node.children) whole = CountEvictable(*child, count) && whole;
  if (&node == &root_) return whole;
  whole = whole && !node.pinned && pool_.ref_count(node.block) == 1;
  if (whole) ++*count;
  return whole;
}

int32_t PrefixTree::EvictableBlocks() const {
  int32_t count = 0;
  CountEvictable(root_, &count);
  return count;
}

void PrefixTree::Pin(const std::vector<int32_t>& tokens, bool pinned) {
  const size_t bs = pool_.block_size();
  Node* node = &root_;
  for (size_t begin = 0; begin + bs <= tokens.size(); begin += bs) {
    auto it = node->children.find(std::vector<int32_t>(tokens.begin() + begin, tokens.begin() + begin + bs));
    if (it == node->children.end()) return;
    node = it->second.get();
    node->pinned = pinned;
  }
}

}  // namespace kvfuse::kv
