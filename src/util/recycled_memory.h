// Large buffers given back to a process-wide free list instead of the system, up to a cap,
// so that a later buffer of about the same size comes with its pages already mapped. On a
// virtual machine the first write to each fresh page can cost microseconds: a chunk's KV read
// from disk into fresh memory spent twice as long faulting as reading (3 MB: ~8 ms against
// ~4 ms). A full RAM tier frees a record for each one it takes in, so loads reuse pages.
//
// Threading: any thread (one mutex).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace kvfuse::util {

// Buffers smaller than this go to the system as usual.
inline constexpr size_t kRecycledMinBytes = size_t{1} << 20;
// At most this many bytes wait in the free list; beyond it, freed buffers go to the system.
inline constexpr size_t kRecycledCapBytes = size_t{64} << 20;

// At least `bytes` (>= kRecycledMinBytes), 64-byte aligned: a recycled buffer of 1 to 1.25
// times the size when one waits, else a new one.
void* TakeRecycled(size_t bytes);
// Gives back what TakeRecycled returned.
void GiveRecycled(void* p);
// The bytes a buffer that TakeRecycled returned holds: its block's capacity (1 to 1.25 times
// what was asked, rounded up to 64 KiB) and header.
size_t RecycledBytesHeld(const void* p);
// Bytes waiting in the free list.
size_t RecycledBytesWaiting();
// Gives every waiting buffer back to the system.
void ReleaseRecycled();

// A std::allocator that takes large arrays through TakeRecycled / GiveRecycled.
template <typename T>
struct RecyclingAllocator {
  using value_type = T;
  RecyclingAllocator() = default;
  template <typename U>
  RecyclingAllocator(const RecyclingAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kRecycledMinBytes) return static_cast<T*>(::operator new(bytes));
    return static_cast<T*>(TakeRecycled(bytes));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) < kRecycledMinBytes) return ::operator delete(p);
    GiveRecycled(p);
  }
  template <typename U>
  bool operator==(const RecyclingAllocator<U>&) const noexcept {
    return true;
  }
};

// The memory a vector of RecyclingAllocator holds (what budgets count), not its size: a
// recycled buffer may be a quarter larger than the vector.
template <typename T>
size_t HeldBytes(const std::vector<T, RecyclingAllocator<T>>& v) {
  const size_t bytes = v.capacity() * sizeof(T);
  return bytes < kRecycledMinBytes ? bytes : RecycledBytesHeld(v.data());
}

}  // namespace kvfuse::util
