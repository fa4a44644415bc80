// MappedFile::Read gives the mapping's bytes without bringing the mapping's pages into this
// process: the Rss of the mapping, read from /proc/self/smaps, stays 0 until the mapping
// itself is read.
#include "util/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace kvfuse::util {
namespace {

// The Rss of the mapping that starts at `begin`, in kB (-1: no such mapping).
long MappingRssKb(const void* begin) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_mapping = false;
  while (std::getline(smaps, line)) {
    unsigned long from = 0, to = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &from, &to) == 2) {
      in_mapping = from == reinterpret_cast<unsigned long>(begin);
      continue;
    }
    long kb = 0;
    if (in_mapping && std::sscanf(line.c_str(), "Rss: %ld kB", &kb) == 1) return kb;
  }
  return -1;
}

// A file of `size` seeded random bytes under KVFUSE_TEST_TMP, named after `stem` and this
// process; its bytes go to `bytes`.
std::string WriteRandomFile(const std::string& stem, size_t size, unsigned seed, std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(KVFUSE_TEST_TMP);
  const std::string path = std::string(KVFUSE_TEST_TMP) + "/" + stem + "-" + std::to_string(::getpid()) + ".bin";
  bytes.resize(size);
  std::mt19937 rng(seed);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return path;
}

TEST(MappedFile, ReadGivesTheFilesBytesWithoutTouchingTheMapping) {
  std::vector<uint8_t> bytes;
  const std::string path = WriteRandomFile("mapped", 4 << 20, 7, bytes);

  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  const uint8_t* data = file->data();
  for (const auto& [offset, n] : std::vector<std::pair<size_t, size_t>>{{0, 1}, {4095, 2}, {12345, 70000},
                                                                         {bytes.size() - 9, 9}, {0, bytes.size()}}) {
    std::vector<uint8_t> out(n);
    ASSERT_TRUE(file->Read(data + offset, n, out.data()).ok());
    EXPECT_EQ(0, std::memcmp(out.data(), bytes.data() + offset, n)) << offset << " " << n;
  }
  EXPECT_EQ(MappingRssKb(data), 0) << "a read brought pages of the mapping in";
  volatile uint8_t touched = data[bytes.size() / 2];  // through the mapping: now it counts
  (void)touched;
  EXPECT_GT(MappingRssKb(data), 0);
  std::filesystem::remove(path);
}

// A mapping has no page in until Populate, then all of them (Rss the whole file); a missing
// file is kNotFound, which callers tell from other failures.
TEST(MappedFile, PopulateReadsEveryPageInAndAMissingFileIsNotFound) {
  std::vector<uint8_t> bytes;
  const std::string path = WriteRandomFile("populated", 1 << 20, 9, bytes);

  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(MappingRssKb(file->data()), 0) << "pages in before Populate";
  ASSERT_TRUE(file->Populate().ok());
  EXPECT_GE(MappingRssKb(file->data()), static_cast<long>(bytes.size() / 1024)) << "pages not read in";
  ASSERT_EQ(file->size(), bytes.size());
  EXPECT_EQ(0, std::memcmp(file->data(), bytes.data(), bytes.size()));
  std::filesystem::remove(path);

  auto missing = MappedFile::Open(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().message();
  auto directory = MappedFile::Open(KVFUSE_TEST_TMP);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().code(), StatusCode::kNotFound) << "a directory is there: another failure";
}

// Another program truncates a file while it is mapped: its pages past the new end would raise
// SIGBUS when touched, so Populate must report the file instead of touching them.
TEST(MappedFile, PopulateOfAFileTruncatedUnderItsMappingIsAnErrorNotASigbus) {
  std::vector<uint8_t> bytes;
  const std::string path = WriteRandomFile("truncated", 1 << 16, 11, bytes);
  auto file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  std::filesystem::resize_file(path, 4096);

  const Status populated = file->Populate();
  EXPECT_FALSE(populated.ok());
  EXPECT_NE(populated.message().find(path), std::string::npos) << populated.message();
  // Read too: it copied the rest from the mapping when the file ended early (a SIGBUS).
  std::vector<uint8_t> out(8192);
  ASSERT_TRUE(file->Read(file->data(), 4096, out.data()).ok());
  const Status read = file->Read(file->data() + 1024, 8192, out.data());
  EXPECT_EQ(read.code(), StatusCode::kCorrupt) << read.message();
  EXPECT_NE(read.message().find(path + ": ends at byte 4096"), std::string::npos) << read.message();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kvfuse::util
