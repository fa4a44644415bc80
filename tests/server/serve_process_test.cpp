// `kvfuse serve` as a child process: SIGTERM with a long generation running stops accepting
// at once and exits within --shutdown-timeout, the client told why; a second server on a
// port in use exits non-zero naming the port.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"
#include "tiny_server_options.h"

extern char** environ;

namespace kvfuse::server {
namespace {

using Clock = std::chrono::steady_clock;

// The `kvfuse serve ARGS...` child, its stderr read through a pipe.
class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    std::vector<std::string> all = {KVFUSE_BINARY, "serve"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, KVFUSE_BINARY, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    err_fd_ = fds[0];
  }
  ~ServeProcess() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  pid_t pid() const { return pid_; }
  const std::string& err() const { return err_; }

  // Reads stderr until it holds `text` (true), it ends, or `timeout` is up.
  bool AwaitErr(const std::string& text, std::chrono::milliseconds timeout) {
    for (const auto end = Clock::now() + timeout; err_.find(text) == std::string::npos;)
      if (!ReadErr(end)) return false;
    return true;
  }
  // The exit status, once stderr has ended (the process is gone) within `timeout`.
  std::optional<int> AwaitExit(std::chrono::milliseconds timeout) {
    for (const auto end = Clock::now() + timeout; !err_closed_;)
      if (!ReadErr(end) && !err_closed_) return std::nullopt;
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return std::nullopt;
    status_ = status;
    return status;
  }
  // The port from "listening on http://HOST:PORT", or -1.
  int Port() const {
    const size_t at = err_.find("listening on http://");
    const size_t colon = at == std::string::npos ? at : err_.find(':', at + 20);
    return colon == std::string::npos ? -1 : std::atoi(err_.c_str() + colon + 1);
  }

 private:
  // One read of stderr before `end`; false on timeout or at its end.
  bool ReadErr(Clock::time_point end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    pollfd p{err_fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[512];
    const ssize_t n = ::read(err_fd_, buf, sizeof(buf));
    if (n <= 0) {
      err_closed_ = true;
      return false;
    }
    err_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string err_;
  bool err_closed_ = false;
  std::optional<int> status_;
};

std::string TinyModel() { return TinyServerOptions(256).engine.model_path; }

TEST(ServeProcess, SigtermWithALongGenerationExitsWithinTheShutdownTimeout) {
  ServeProcess serve({"-m", TinyModel(), "--port", "0", "-t", "1", "-c", "32768", "-np", "1",
                      "--shutdown-timeout", "1"});
  ASSERT_GT(serve.pid(), 0);
  ASSERT_TRUE(serve.AwaitErr("model ready", std::chrono::seconds(20))) << serve.err();
  const int port = serve.Port();
  ASSERT_GT(port, 0) << serve.err();
  // 30,000 tokens: many seconds of work for this model, far past the shutdown timeout.
  std::atomic<int> events{0};
  std::atomic<bool> ended{false};
  std::string body;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = R"({"prompt": "once", "max_tokens": 30000, "ignore_eos": true, "stream": true})";
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      body.append(data, n);
      ++events;
      return true;
    };
    c.send(req);
    ended = true;
  });
  for (const auto end = Clock::now() + std::chrono::seconds(10); events < 2 && Clock::now() < end;)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_GE(events, 2) << "the generation did not start";
  const auto t0 = Clock::now();
  ASSERT_EQ(::kill(serve.pid(), SIGTERM), 0);
  // New connections are refused at once, while the running request goes on.
  httplib::Client probe("127.0.0.1", port);
  probe.set_connection_timeout(0, 200'000);
  bool refused = false;
  while (!refused && Clock::now() - t0 < std::chrono::milliseconds(800)) {
    auto health = probe.Get("/health");
    refused = !health || health->status == 503;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(refused) << "still accepting after SIGTERM";
  EXPECT_FALSE(ended) << "the running request was not given its time";
  const std::optional<int> status = serve.AwaitExit(std::chrono::seconds(10));
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!status) ::kill(serve.pid(), SIGKILL);  // the client's stream ends with it
  client.join();
  ASSERT_TRUE(status.has_value()) << "still running 10 s after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << serve.err();
  EXPECT_GE(took, 0.9) << "the running request was not given its time";
  EXPECT_LT(took, 1.0 + 1.5) << "the shutdown took too long";
  EXPECT_NE(body.find("the server is shutting down"), std::string::npos) << body.substr(body.size() > 300 ? body.size() - 300 : 0);
  EXPECT_NE(body.find("[DONE]"), std::string::npos);
}

TEST(ServeProcess, ASecondServerOnAPortInUseExitsNamingThePort) {
  Server first(TinyServerOptions(256));
  ASSERT_TRUE(first.Start().ok());
  const std::string port = std::to_string(first.port());
  ServeProcess second({"-m", TinyModel(), "--port", port});
  ASSERT_GT(second.pid(), 0);
  const std::optional<int> status = second.AwaitExit(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "a second server started on a port in use: " << second.err();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_NE(second.err().find("port " + port + " is already in use"), std::string::npos) << second.err();
}

}  // namespace
}  // namespace kvfuse::server
