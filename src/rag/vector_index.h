// Approximate nearest neighbours over L2-normalised vectors (inner product) with hnswlib.
// The graph is built in memory from the vectors the collection stores; it is not saved,
// so nothing unchecked is ever loaded from disk.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rag/bm25_index.h"

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
class InnerProductSpace;
}  // namespace hnswlib

namespace kvfuse::rag {

class VectorIndex {
 public:
  explicit VectorIndex(int32_t dim);
  ~VectorIndex();
  VectorIndex(VectorIndex&&) noexcept;
  VectorIndex& operator=(VectorIndex&&) noexcept;

  int32_t dim() const { return dim_; }
  size_t size() const { return size_; }
  // vector: [dim], L2-normalised by the caller.
  void Add(int32_t id, const float* vector);
  // The k nearest ids, nearest first; score = inner product.
  std::vector<ScoredId> Search(const float* query, size_t k) const;

 private:
  int32_t dim_;
  size_t size_ = 0, capacity_ = 0;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
};

}  // namespace kvfuse::rag
