// A RAG prompt as segments: a prefix (system prompt, template head), chunks (retrieved
// passages, each tokenized on its own so its ids do not depend on its neighbours) and a
// suffix (the question and the template tail). The flat prompt is their concatenation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvfuse::fuse {

struct SegmentedPrompt {
  std::vector<int32_t> prefix;
  std::vector<std::vector<int32_t>> chunks;
  std::vector<int32_t> suffix;

  int32_t size() const {
    size_t n = prefix.size() + suffix.size();
    for (const auto& c : chunks) n += c.size();
    return static_cast<int32_t>(n);
  }
  // Position of the first token of chunk i.
  int32_t ChunkOffset(size_t i) const {
    size_t o = prefix.size();
    for (size_t j = 0; j < i; ++j) o += chunks[j].size();
    return static_cast<int32_t>(o);
  }
  std::vector<int32_t> Flatten() const {
    std::vector<int32_t> all(prefix);
    for (const auto& c : chunks) all.insert(all.end(), c.begin(), c.end());
    all.insert(all.end(), suffix.begin(), suffix.end());
    return all;
  }
};

}  // namespace kvfuse::fuse
