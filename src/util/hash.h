// 64-bit content hashes (XXH3) for chunk identities, fingerprints and file checksums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kvfuse::util {

uint64_t Hash64(const void* data, size_t size, uint64_t seed = 0);

// Incremental hashing of several pieces; Digest() equals Hash64 of their concatenation.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  Hasher& Add(const void* data, size_t size);
  Hasher& Add(std::string_view s) { return Add(s.data(), s.size()); }
  template <typename T>
  Hasher& AddValue(const T& v) { return Add(&v, sizeof(v)); }
  uint64_t Digest() const;

 private:
  void* state_;  // XXH3_state_t, kept out of this header
};

}  // namespace kvfuse::util
