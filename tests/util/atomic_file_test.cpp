#include "util/atomic_file.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

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

// The pid of a process that has exited (and been reaped).
int DeadPid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

void Touch(const std::string& path) { std::ofstream(path) << "partial"; }

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

// A temporary name already taken (a killed run's under the same pid, as a container's pid 1
// always is) is skipped, not truncated under whoever wrote it.
TEST(AtomicFile, ATakenTemporaryNameIsSkippedNotTruncated) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/f.bin";
  std::string first;  // this writer's temporary, to learn the counter's next values
  {
    auto w = AtomicFileWriter::Open(path);
    ASSERT_TRUE(w.ok());
    for (const auto& e : std::filesystem::directory_iterator(dir)) first = e.path().filename().string();
  }
  const std::string stem = "f.bin.tmp." + std::to_string(::getpid()) + ".";
  ASSERT_EQ(first.rfind(stem, 0), 0u) << first;
  const int next = std::stoi(first.substr(stem.size())) + 1;
  for (int i = next; i < next + 20; ++i) Touch(dir + "/" + stem + std::to_string(i));
  ASSERT_TRUE(WriteFileAtomically(path, "mine").ok());
  EXPECT_EQ(ReadAll(path), "mine");
  for (int i = next; i < next + 20; ++i) EXPECT_EQ(ReadAll(dir + "/" + stem + std::to_string(i)), "partial") << i;
}

TEST(AtomicFile, UnwritableDirectoryIsAnError) {
  const Status st = WriteFileAtomically("/nonexistent-dir/x/f.bin", "data");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent-dir/x/f.bin"), std::string::npos);
}

TEST(AtomicFile, TemporaryNamesAreRecognisedExactly) {
  const std::string dir = MakeTempDir();
  auto w = AtomicFileWriter::Open(dir + "/f.bin");
  ASSERT_TRUE(w.ok());
  int found = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(TemporaryFileWriterPid(e.path().filename().string()), getpid()) << e.path();
    ++found;
  }
  EXPECT_EQ(found, 1);
  EXPECT_EQ(TemporaryFileWriterPid("0000000000000001.kvc.tmp.42.0"), 42);
  EXPECT_EQ(TemporaryFileWriterPid("a.tmp.5.tmp.77.3"), 77);
  for (const char* name : {"f.bin", "f.tmp", ".tmp.1.2", "f.tmp.1", "f.tmp.x.2", "f.tmp.1.2x", "f.tmp.0.1",
                           "f.tmp.1.", "f.tmp..1", "f.tmp.-3.1", "f.tmp.99999999999.1", "f.tmp.1.2.bak"})
    EXPECT_EQ(TemporaryFileWriterPid(name), 0) << name;
}

TEST(AtomicFile, TemporaryOfAKilledWriterIsRemoved) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/f.bin";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  const pid_t child = fork();
  if (child == 0) {
    auto w = AtomicFileWriter::Open(path);
    if (w.ok() && w->Append("half-writ").ok()) raise(SIGKILL);  // before Commit
    _exit(1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(CountEntries(dir), 2);  // the target and the killed writer's temporary
  auto removed = RemoveStaleTemporaries(dir, [](std::string_view name) { return name == "f.bin"; });
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_EQ(removed.value(), 1u);
  EXPECT_EQ(CountEntries(dir), 1);
  EXPECT_EQ(ReadAll(path), "old");
}

TEST(AtomicFile, OnlyStaleTemporariesAreRemoved) {
  const std::string dir = MakeTempDir();
  const std::string me = std::to_string(getpid()), dead = std::to_string(DeadPid());
  Touch(dir + "/live.bin.tmp." + me + ".7");  // a writer of this process, still writing
  Touch(dir + "/old.bin.tmp." + me + ".8");   // as old as no write takes: its pid was reused
  std::filesystem::last_write_time(dir + "/old.bin.tmp." + me + ".8",
                                   std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
  Touch(dir + "/dead.bin.tmp." + dead + ".3");
  const std::vector<std::string> others = {"notes.tmp", "notes.tmp." + dead + ".1x", "f.bin", ".tmp." + dead + ".1"};
  for (const std::string& name : others)
    Touch(dir + "/" + name);
  std::filesystem::create_directories(dir + "/sub.tmp." + dead + ".1");
  std::filesystem::create_directories(dir + "/nested");
  Touch(dir + "/nested/n.bin.tmp." + dead + ".1");
  Touch(dir + "/theirs.txt.tmp." + dead + ".4");  // another program's target: never ours to remove
  const OwnsTarget ours = [](std::string_view name) { return name.ends_with(".bin"); };
  auto removed = RemoveStaleTemporaries(dir, ours);
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_EQ(removed.value(), 2u);
  EXPECT_TRUE(std::filesystem::exists(dir + "/theirs.txt.tmp." + dead + ".4"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/live.bin.tmp." + me + ".7"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/old.bin.tmp." + me + ".8"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/dead.bin.tmp." + dead + ".3"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/nested/n.bin.tmp." + dead + ".1"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/.tmp." + dead + ".1"));  // no target name
  EXPECT_EQ(CountEntries(dir), 7);  // live, theirs, notes.tmp, notes...1x, f.bin, sub...1/, nested/
  EXPECT_FALSE(RemoveStaleTemporaries(dir + "/missing", ours).ok());
}

}  // namespace kvfuse::util
