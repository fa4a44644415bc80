// Builds GGUF bytes by hand so tests can damage any single field.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace kvfuse::gguf::testing {

class ByteBuilder {
 public:
  template <typename T>
  ByteBuilder& Put(T v) {
    const size_t n = bytes.size();
    bytes.resize(n + sizeof(T));
    std::memcpy(bytes.data() + n, &v, sizeof(T));
    return *this;
  }
  ByteBuilder& Str(const std::string& s) {
    Put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  ByteBuilder& Pad(size_t alignment) {
    while (bytes.size() % alignment) bytes.push_back(0);
    return *this;
  }
  size_t size() const { return bytes.size(); }
  std::vector<uint8_t> bytes;
};

// A valid file: one u32 and one string key, one 4x2 f32 tensor and one 32x1 q8_0 tensor.
// Field offsets are recorded so tests can damage them.
struct SmallFile {
  std::vector<uint8_t> bytes;
  size_t n_tensors_at, n_kv_at, first_key_len_at, array_count_at, value_type_at;
  size_t tensor0_ndims_at, tensor0_dim0_at, tensor0_type_at, tensor0_offset_at, tensor1_offset_at;
};

inline SmallFile MakeSmallFile() {
  SmallFile f;
  ByteBuilder b;
  b.Put<uint32_t>(0x46554747).Put<uint32_t>(3);
  f.n_tensors_at = b.size();
  b.Put<uint64_t>(2);
  f.n_kv_at = b.size();
  b.Put<uint64_t>(3);
  f.first_key_len_at = b.size();
  b.Str("general.architecture");
  f.value_type_at = b.size();
  b.Put<uint32_t>(8).Str("llama");
  b.Str("test.count").Put<uint32_t>(4).Put<uint32_t>(7);
  b.Str("test.list").Put<uint32_t>(9).Put<uint32_t>(5);
  f.array_count_at = b.size();
  b.Put<uint64_t>(3).Put<int32_t>(1).Put<int32_t>(-2).Put<int32_t>(3);
  b.Str("t.f32");
  f.tensor0_ndims_at = b.size();
  b.Put<uint32_t>(2);
  f.tensor0_dim0_at = b.size();
  b.Put<uint64_t>(4).Put<uint64_t>(2);
  f.tensor0_type_at = b.size();
  b.Put<uint32_t>(0);
  f.tensor0_offset_at = b.size();
  b.Put<uint64_t>(0);
  b.Str("t.q8").Put<uint32_t>(1).Put<uint64_t>(32).Put<uint32_t>(8);
  f.tensor1_offset_at = b.size();
  b.Put<uint64_t>(32);
  b.Pad(32);
  for (int i = 0; i < 8; ++i) b.Put<float>(static_cast<float>(i));
  b.Pad(32);
  for (int i = 0; i < 34; ++i) b.Put<uint8_t>(static_cast<uint8_t>(i));
  f.bytes = b.bytes;
  return f;
}

template <typename T>
void Overwrite(std::vector<uint8_t>& bytes, size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof(T));
}

}  // namespace kvfuse::gguf::testing
