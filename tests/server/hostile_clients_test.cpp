// Hostile clients against the real server on loopback: slow and idle ones (slowloris) are cut
// at the request deadline or refused per address while others are answered at once; bodies
// are bounded in bytes however they are framed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "server/server.h"
#include "tiny_server_options.h"

namespace kvfuse::server {
namespace {

using Clock = std::chrono::steady_clock;

// A TCP connection to the server from `source` (any 127.x.y.z address is loopback on Linux).
int Connect(const char* source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{}, to{};
  from.sin_family = to.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  to.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Whatever the server sent before closing, or waiting `wait` for it.
std::string ReadUntilClosed(int fd, std::chrono::milliseconds wait) {
  std::string got;
  const auto end = Clock::now() + wait;
  char buf[512];
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return got + "<closed>";
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

class SlowClients : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o = TinyServerOptions(256);
    o.request_read_ms = 800;
    o.max_waiting_per_address = 8;
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_TRUE(server_->WaitReady());
  }
  void TearDown() override { server_->Stop(); }
  std::unique_ptr<Server> server_;
};

TEST_F(SlowClients, ARequestTricklingInIsCutAtItsDeadline) {
  const int fd = Connect("127.0.0.1", server_->port());
  ASSERT_GE(fd, 0);
  const auto start = Clock::now();
  bool closed = false;
  ASSERT_GT(::send(fd, "POST /v1/completions HTTP/1.1\r\n", 31, MSG_NOSIGNAL), 0);
  while (!closed && Clock::now() - start < std::chrono::seconds(5)) {
    ::send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL);  // one header line at a time, never the end
    closed = ReadUntilClosed(fd, std::chrono::milliseconds(100)).find("<closed>") != std::string::npos;
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));  // the deadline is 0.8 s
  ::close(fd);
}

TEST_F(SlowClients, AnAddressHoldsAtMostItsShareOfWaitingConnections) {
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(Connect("127.0.0.2", server_->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all eight picked up by workers
  const int extra = Connect("127.0.0.2", server_->port());
  const std::string answer = ReadUntilClosed(extra, std::chrono::seconds(2));
  EXPECT_EQ(answer.rfind("HTTP/1.1 429", 0), 0u) << answer;
  httplib::Client other("127.0.0.1", server_->port());  // another address is served
  auto health = other.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  for (int fd : idle) ::close(fd);
  ::close(extra);
}

// Sends `head`, then `chunk` until the server stops reading; returns its answer.
std::string SendUntilRefused(int fd, const std::string& head, const std::string& chunk, size_t& sent) {
  sent = 0;
  if (::send(fd, head.data(), head.size(), MSG_NOSIGNAL) < 0) return "";
  for (int i = 0; i < 4096; ++i) {  // 256 MiB at most
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 2000) <= 0 || (p.revents & (POLLERR | POLLHUP))) break;
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  return ReadUntilClosed(fd, std::chrono::seconds(2));
}

TEST_F(SlowClients, AChunkedBodyIsBoundedByTheBodyLimit) {
  const int fd = Connect("127.0.0.1", server_->port());
  ASSERT_GE(fd, 0);
  std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";  // 64 KiB chunks, no end
  size_t sent = 0;
  const std::string answer =
      SendUntilRefused(fd, "POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", chunk, sent);
  ::close(fd);
  EXPECT_LT(sent, size_t{16} << 20) << "the server kept reading a chunked body past its 1 MiB limit";
  httplib::Client client("127.0.0.1", server_->port());
  EXPECT_EQ(client.Get("/health")->status, 200);
}

TEST_F(SlowClients, CompressedBodiesAreRefused) {
  httplib::Client client("127.0.0.1", server_->port());
  httplib::Headers gzip = {{"Content-Encoding", "gzip"}};
  auto r = client.Post("/v1/completions", gzip, std::string(64, 'x'), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
}

// 200 connections from one address send a header line every 200 ms and reconnect when cut,
// for 3 s; every 300 ms another client asks /health and a short chat completion.
TEST_F(SlowClients, SlowlorisDoesNotDelayOtherClients) {
  std::atomic<bool> stop{false};
  std::thread attacker([&] {
    std::vector<int> fds(200, -1);
    while (!stop) {
      for (int& fd : fds) {
        if (fd < 0 && (fd = Connect("127.0.0.2", server_->port())) >= 0)
          ::send(fd, "POST /v1/chat/completions HTTP/1.1\r\n", 36, MSG_NOSIGNAL);
        if (fd >= 0 && ::send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0) ::close(fd), fd = -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  httplib::Client client("127.0.0.1", server_->port());
  client.set_read_timeout(1, 0);
  client.set_connection_timeout(1, 0);
  const std::string chat = R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "temperature": 0})";
  for (auto end = Clock::now() + std::chrono::seconds(3); Clock::now() < end;) {
    const auto t0 = Clock::now();
    auto health = client.Get("/health");
    ASSERT_TRUE(health) << "no /health answer within 1 s";
    EXPECT_EQ(health->status, 200);
    auto answer = client.Post("/v1/chat/completions", chat, "application/json");
    ASSERT_TRUE(answer) << "no chat answer within 1 s";
    EXPECT_EQ(answer->status, 200);
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  stop = true;
  attacker.join();
}

}  // namespace
}  // namespace kvfuse::server
