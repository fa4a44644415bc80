#include "util/recycled_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace kvfuse::util {
namespace {

using Bytes = std::vector<uint8_t, RecyclingAllocator<uint8_t>>;

// The free list is process-wide: each test starts and ends with it empty.
void Drain() { ReleaseRecycled(); }

TEST(RecycledMemory, AFreedBufferIsGivenAgainForAboutItsSize) {
  Drain();
  const void* first;
  {
    Bytes a(3 << 20, 7);
    first = a.data();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
  }
  EXPECT_GE(RecycledBytesWaiting(), size_t{3} << 20);
  Bytes b((3 << 20) - 1000);  // a little smaller: the same buffer
  EXPECT_EQ(b.data(), first);
  EXPECT_EQ(RecycledBytesWaiting(), 0u);
  EXPECT_EQ(b.front(), 0) << "a vector still initialises what it is given";
}

TEST(RecycledMemory, NoBufferOfFarOtherSizeIsGiven) {
  Drain();
  const void* large;
  {
    Bytes a(4 << 20);
    large = a.data();
  }
  Bytes half(2 << 20);  // a waiting 4 MiB buffer would hold it, but would waste half
  EXPECT_NE(half.data(), large);
  Bytes bigger(5 << 20);  // nor is a buffer too small given
  EXPECT_NE(bigger.data(), large);
  EXPECT_GE(RecycledBytesWaiting(), size_t{4} << 20) << "the 4 MiB buffer still waits";
  Drain();
}

TEST(RecycledMemory, SmallBuffersAndBuffersPastTheCapGoToTheSystem) {
  Drain();
  { Bytes small(kRecycledMinBytes - 1); }
  EXPECT_EQ(RecycledBytesWaiting(), 0u);
  {
    std::vector<Bytes> many;
    for (size_t total = 0; total <= kRecycledCapBytes + (8 << 20); total += 8 << 20) many.emplace_back(8 << 20);
  }
  EXPECT_LE(RecycledBytesWaiting(), kRecycledCapBytes);
  EXPECT_GT(RecycledBytesWaiting(), kRecycledCapBytes - (9 << 20));
  Drain();
}

TEST(RecycledMemory, HeldBytesAreTheBuffersNotTheSizeAsked) {
  Drain();
  { Bytes a(5 << 20); }
  Bytes b((4 << 20) + (256 << 10));  // 4.25 MiB: the waiting 5 MiB buffer holds it
  EXPECT_EQ(RecycledBytesWaiting(), 0u);
  EXPECT_EQ(HeldBytes(b), (size_t{5} << 20) + 64) << "the block and its 64-byte header";
  Bytes fresh((3 << 20) + 1);  // a new block, rounded up to 64 KiB
  EXPECT_EQ(HeldBytes(fresh), (size_t{3} << 20) + (64 << 10) + 64);
  Bytes small(1000);  // from the system: its own capacity
  EXPECT_EQ(HeldBytes(small), small.capacity());
  Drain();
}

}  // namespace
}  // namespace kvfuse::util
