// A redis-server of the test's own on a free loopback port (Debian's, which `make test`
// installs), its data in a fresh directory, no persistence. Kill() stops it as a crash
// would; Start() brings it back on the same port, empty. The destructor kills it, and so does
// the kernel when the test process dies first (PR_SET_PDEATHSIG).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/redis_client.h"

namespace kvfuse::store {

class TestRedisServer {
 public:
  explicit TestRedisServer(std::vector<std::string> extra_args = {}) : extra_(std::move(extra_args)) {
    port_ = FreePort();
    ready_ = Start();
  }
  // A node for a Redis Cluster, its bus on a free port too (by default the bus is port +
  // 10000, past 65535 for many free ports).
  static std::vector<std::string> ClusterNodeArgs() {
    return {"--cluster-enabled", "yes", "--cluster-port", std::to_string(FreePort()), "--cluster-node-timeout", "2000"};
  }
  ~TestRedisServer() { Kill(); }

  // True once it answers PING, or refuses it for want of a password (within 10 s); false
  // when redis-server cannot be run.
  bool Start() {
    // A directory of its own: a cluster node keeps its nodes.conf there.
    const std::string dir = std::string(KVFUSE_TEST_TMP) + "/redis-" + std::to_string(port_);
    std::filesystem::create_directories(dir);
    std::vector<std::string> args = {"redis-server", "--port",   std::to_string(port_), "--bind", "127.0.0.1",
                                     "--save",       "",         "--appendonly",        "no",     "--dir",
                                     dir,            "--logfile", "/dev/null"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      // Its output goes nowhere: an inherited pipe would keep the test's reader waiting.
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    if (pid_ < 0) return false;
    RedisClient probe({{"127.0.0.1", port_, 0}, "", 200, 500});
    for (int i = 0; i < 200; ++i) {
      const util::Status st = probe.Ping();
      if (st.ok() || st.code() == util::StatusCode::kPermissionDenied) return ready_ = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  void Kill() {
    ready_ = false;
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    std::filesystem::remove_all(std::string(KVFUSE_TEST_TMP) + "/redis-" + std::to_string(port_));
  }
  // True while it runs and answered after its last Start().
  bool running() const { return ready_ && pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  static int FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  std::vector<std::string> extra_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool ready_ = false;
};

}  // namespace kvfuse::store
