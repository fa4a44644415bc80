// Malformed GGUF files must give a clear error, never a crash or an out-of-bounds read
// (run under ASan/valgrind to prove the latter).
#include <gtest/gtest.h>

#include <random>

#include "gguf/gguf_reader.h"
#include "gguf_test_util.h"

namespace kvfuse::gguf {

using testing::MakeSmallFile;
using testing::Overwrite;

namespace {

util::Result<GgufFile> ParseBytes(const std::vector<uint8_t>& bytes) {
  return GgufFile::Parse(bytes.data(), bytes.size(), "bad.gguf");
}

void ExpectError(const std::vector<uint8_t>& bytes, const std::string& fragment) {
  auto r = ParseBytes(bytes);
  ASSERT_FALSE(r.ok()) << "accepted a file that should fail with: " << fragment;
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("bad.gguf"), std::string::npos) << r.status().message();
}

}  // namespace

TEST(GgufMalformed, TheUndamagedFileParses) {
  auto f = MakeSmallFile();
  auto r = ParseBytes(f.bytes);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tensors().size(), 2u);
  EXPECT_EQ(r->GetInt("test.count").value(), 7);
}

TEST(GgufMalformed, EveryTruncationIsRejected) {
  auto f = MakeSmallFile();
  for (size_t n = 0; n < f.bytes.size(); ++n) {
    std::vector<uint8_t> cut(f.bytes.begin(), f.bytes.begin() + n);
    EXPECT_FALSE(ParseBytes(cut).ok()) << "accepted a file truncated to " << n << " bytes";
  }
}

TEST(GgufMalformed, BadMagic) {
  auto f = MakeSmallFile();
  f.bytes[0] = 'X';
  ExpectError(f.bytes, "bad magic");
}

TEST(GgufMalformed, UnsupportedVersions) {
  for (uint32_t v : {0u, 1u, 4u, 0xFFFFFFFFu}) {
    auto f = MakeSmallFile();
    Overwrite<uint32_t>(f.bytes, 4, v);
    ExpectError(f.bytes, "unsupported GGUF version");
  }
}

TEST(GgufMalformed, HugeCounts) {
  auto f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.n_kv_at, 0xFFFFFFFFFFFFull);
  ExpectError(f.bytes, "metadata count");
  f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.n_tensors_at, 1ull << 62);
  ExpectError(f.bytes, "tensor count");
  f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.array_count_at, 1ull << 61);
  ExpectError(f.bytes, "cannot fit");
  f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.first_key_len_at, ~0ull);
  ExpectError(f.bytes, "length");
}

// A count the remaining bytes allow yet longer than any model's array: refused before a u8
// array is held at 8 bytes an element (512 MiB here, gigabytes for a model-sized file).
TEST(GgufMalformed, ArraysLongerThanAnyModelsAreRefused) {
  auto f = MakeSmallFile();
  Overwrite<uint32_t>(f.bytes, f.array_count_at - 4, 0);  // test.list as u8
  Overwrite<uint64_t>(f.bytes, f.array_count_at, (uint64_t{1} << 26) + 1);
  f.bytes.resize(f.bytes.size() + (size_t{1} << 26) + 64, 0);
  ExpectError(f.bytes, "longer than any model's");
}

TEST(GgufMalformed, UnknownValueType) {
  auto f = MakeSmallFile();
  Overwrite<uint32_t>(f.bytes, f.value_type_at, 77);
  ExpectError(f.bytes, "unknown metadata value type");
}

TEST(GgufMalformed, BadTensorShapes) {
  auto f = MakeSmallFile();
  Overwrite<uint32_t>(f.bytes, f.tensor0_ndims_at, 5);
  ExpectError(f.bytes, "dimensions");
  f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.tensor0_dim0_at, 0);
  ExpectError(f.bytes, "invalid or overflowing dimension");
  f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.tensor0_dim0_at, 1ull << 40);
  ExpectError(f.bytes, "more bytes than the file has");
  f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.tensor0_dim0_at, 1ull << 63);
  ExpectError(f.bytes, "invalid or overflowing dimension");
}

TEST(GgufMalformed, UnknownOrUnsupportedTensorTypes) {
  for (uint32_t t : {3u, 99u, 15u}) {  // q4_1 (unsupported), garbage, q8_K (activations only)
    auto f = MakeSmallFile();
    Overwrite<uint32_t>(f.bytes, f.tensor0_type_at, t);
    ExpectError(f.bytes, "unsupported type id");
  }
}

TEST(GgufMalformed, BadTensorOffsets) {
  auto f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.tensor1_offset_at, 33);
  ExpectError(f.bytes, "not a multiple of the alignment");
  f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.tensor1_offset_at, 64);
  ExpectError(f.bytes, "outside");
  f = MakeSmallFile();
  Overwrite<uint64_t>(f.bytes, f.tensor0_offset_at, ~0ull - 31);
  ExpectError(f.bytes, "outside");
}

TEST(GgufMalformed, RandomDamageNeverCrashes) {
  const auto original = MakeSmallFile().bytes;
  std::mt19937 rng(7);
  int accepted = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    auto bytes = original;
    const int n_flips = 1 + iter % 4;
    for (int k = 0; k < n_flips; ++k) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    auto r = ParseBytes(bytes);
    if (r.ok()) {
      ++accepted;
      for (const auto& t : r->tensors()) {  // whatever was accepted lies inside the buffer
        ASSERT_GE(t.data, bytes.data());
        ASSERT_LE(t.data + t.n_bytes, bytes.data() + bytes.size());
      }
    }
  }
  EXPECT_LT(accepted, 5000);  // damage to the data section alone is legitimately accepted
}

TEST(GgufMalformed, MissingFileIsAnError) {
  auto r = GgufFile::Open("/nonexistent/model.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace kvfuse::gguf
