#include "rag/vector_index.h"

#include <algorithm>

// hnswlib's SSE path prefetches the neighbour one past the end of a link list, reading 4
// bytes beyond its allocation (AddressSanitizer reports it; harmless in practice). Sanitized
// builds take its plain path so that every other report is ours.
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MANUAL_VECTORIZATION
#endif
#endif
#include <hnswlib/hnswlib.h>

namespace kvfuse::rag {
namespace {
constexpr size_t kM = 16, kEfConstruction = 200, kEfSearch = 64;
}

VectorIndex::VectorIndex(int32_t dim) : dim_(dim), space_(std::make_unique<hnswlib::InnerProductSpace>(dim)) {}
VectorIndex::~VectorIndex() = default;
VectorIndex::VectorIndex(VectorIndex&&) noexcept = default;
VectorIndex& VectorIndex::operator=(VectorIndex&&) noexcept = default;

void VectorIndex::Add(int32_t id, const float* vector) {
  if (!graph_) {
    capacity_ = 1024;
    graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), capacity_, kM, kEfConstruction);
    // Once, here: Search runs on many threads at once, and hnswlib searches max(ef, k) deep.
    graph_->setEf(kEfSearch);
  }
  if (size_ == capacity_) {
    capacity_ *= 2;
    graph_->resizeIndex(capacity_);
  }
  graph_->addPoint(vector, static_cast<hnswlib::labeltype>(id));
  ++size_;
}

std::vector<ScoredId> VectorIndex::Search(const float* query, size_t k) const {
  if (!graph_ || size_ == 0 || k == 0) return {};
  k = std::min(k, size_);
  auto queue = graph_->searchKnn(query, k);
  std::vector<ScoredId> hits;
  while (!queue.empty()) {
    hits.push_back({static_cast<int32_t>(queue.top().second), 1.0 - static_cast<double>(queue.top().first)});
    queue.pop();
  }
  std::reverse(hits.begin(), hits.end());
  return hits;
}

}  // namespace kvfuse::rag
