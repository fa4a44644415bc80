// The built `kvfuse` binary (KVFUSE_BINARY) as a child process (tests/cli and tests/server),
// its stdout and stderr read together through one pipe. The destructor kills a child still
// running.
#pragma once

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace kvfuse::cli {

class KvfuseProcess {
 public:
  using Clock = std::chrono::steady_clock;

  explicit KvfuseProcess(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    std::vector<std::string> all = {KVFUSE_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, KVFUSE_BINARY, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~KvfuseProcess() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

  // Reads the output until it holds `text` (true), it ends, or `timeout` is up.
  bool AwaitOutput(const std::string& text, std::chrono::milliseconds timeout) {
    for (const auto end = Clock::now() + timeout; output_.find(text) == std::string::npos;)
      if (!Read(end)) return false;
    return true;
  }
  // The exit code once the output has ended within `timeout`; -1 for a signal, nullopt on timeout.
  std::optional<int> AwaitExit(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    for (const auto end = Clock::now() + timeout; !closed_;)
      if (!Read(end) && !closed_) return std::nullopt;
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return std::nullopt;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return exit_code_;
  }

 private:
  // One read before `end`; false on timeout or at the end of the output.
  bool Read(Clock::time_point end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;
  bool closed_ = false;
  std::optional<int> exit_code_;
};

}  // namespace kvfuse::cli
