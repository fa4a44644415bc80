#include "util/recycled_memory.h"

#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

namespace kvfuse::util {

namespace {

// Each buffer is preceded by a header that records its capacity.
constexpr size_t kHeaderBytes = 64;
constexpr size_t kGrain = size_t{64} << 10;

struct FreeList {
  std::mutex mu;
  std::multimap<size_t, void*> blocks;  // capacity -> block (header included)
  size_t waiting = 0;
};

FreeList& List() {
  static FreeList* list = new FreeList;  // never destroyed: buffers may be freed at exit
  return *list;
}

void* NewBlock(size_t capacity) {
  void* block = std::aligned_alloc(kHeaderBytes, kHeaderBytes + capacity);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

}  // namespace

void* TakeRecycled(size_t bytes) {
  FreeList& list = List();
  void* block = nullptr;
  size_t capacity = 0;
  {
    std::lock_guard<std::mutex> lock(list.mu);
    auto it = list.blocks.lower_bound(bytes);
    if (it != list.blocks.end() && it->first <= bytes + bytes / 4) {
      capacity = it->first;
      block = it->second;
      list.waiting -= capacity;
      list.blocks.erase(it);
    }
  }
  if (block == nullptr) {
    capacity = (bytes + kGrain - 1) / kGrain * kGrain;
    block = NewBlock(capacity);
  }
  *static_cast<size_t*>(block) = capacity;
  return static_cast<uint8_t*>(block) + kHeaderBytes;
}

void GiveRecycled(void* p) {
  if (p == nullptr) return;
  void* block = static_cast<uint8_t*>(p) - kHeaderBytes;
  const size_t capacity = *static_cast<size_t*>(block);
  FreeList& list = List();
  {
    std::lock_guard<std::mutex> lock(list.mu);
    if (list.waiting + capacity <= kRecycledCapBytes) {
      list.blocks.emplace(capacity, block);
      list.waiting += capacity;
      return;
    }
  }
  std::free(block);
}

size_t RecycledBytesHeld(const void* p) {
  return kHeaderBytes + *reinterpret_cast<const size_t*>(static_cast<const uint8_t*>(p) - kHeaderBytes);
}

size_t RecycledBytesWaiting() {
  FreeList& list = List();
  std::lock_guard<std::mutex> lock(list.mu);
  return list.waiting;
}

void ReleaseRecycled() {
  FreeList& list = List();
  std::lock_guard<std::mutex> lock(list.mu);
  for (const auto& [capacity, block] : list.blocks) std::free(block);
  list.blocks.clear();
  list.waiting = 0;
}

}  // namespace kvfuse::util
