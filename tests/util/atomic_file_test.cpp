#include "util/atomic_file.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace kvfuse::util {

namespace {

std::string MakeTempDir() {
  std::filesystem::create_directories(KVFUSE_TEST_TMP);
  std::string tmpl = std::string(KVFUSE_TEST_TMP) + "/atomic-XXXXXX";
  return mkdtemp(tmpl.data());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int CountEntries(const std::string& dir) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

}  // namespace

TEST(AtomicFile, WritesAndReplacesWithoutLeavingTemporaries) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/f.bin";
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second version").ok());
  EXPECT_EQ(ReadAll(path), "second version");
  EXPECT_EQ(CountEntries(dir), 1);
}

TEST(AtomicFile, AbandonedWriterLeavesTargetUntouched) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/f.bin";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  {
    auto w = AtomicFileWriter::Open(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Append("half-writ").ok());
    // destroyed without Commit: a crash mid-write
  }
  EXPECT_EQ(ReadAll(path), "old");
  EXPECT_EQ(CountEntries(dir), 1);
}

TEST(AtomicFile, UnwritableDirectoryIsAnError) {
  const Status st = WriteFileAtomically("/nonexistent-dir/x/f.bin", "data");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent-dir/x/f.bin"), std::string::npos);
}

}  // namespace kvfuse::util
