// The server under stress, in process on loopback: a whole (not streamed) completion whose
// client hangs up is cancelled and frees its slot, and so is a stream held back for its tool
// calls; the time to first token counts waiting in the queue; the requests-in-progress gauge;
// probes of /health and /metrics are not counted as requests; a port in use is refused with a
// code.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"
#include "tiny_server_options.h"

namespace kvfuse::server {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// The value of the sample `name` (with its labels) in a /metrics text; -1 when absent.
double Sample(const std::string& metrics, const std::string& name) {
  const size_t at = metrics.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + name.size() + 2));
}

// Requests counted in kvfuse_requests_total, all statuses together.
double RequestsCounted(const std::string& metrics) {
  double n = 0;
  const std::string prefix = "\nkvfuse_requests_total{";
  for (size_t at = 0; (at = metrics.find(prefix, at)) != std::string::npos; ++at)
    n += std::stod(metrics.substr(metrics.find(' ', at + 1) + 1));
  return n;
}

class UnderLoad : public ::testing::Test {
 protected:
  void Start(int n_ctx) {
    ServerOptions o = TinyServerOptions(n_ctx);
    o.slots = 1;  // one request at a time: the next one waits for the slot
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_TRUE(server_->WaitReady());
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  std::string Metrics() {
    httplib::Client c("127.0.0.1", server_->port());
    auto r = c.Get("/metrics");
    return r ? r->body : "";
  }
  // Polls /metrics until `done` holds of it, or 10 s have passed; the last text.
  std::string AwaitMetrics(const std::function<bool(const std::string&)>& done) {
    std::string m = Metrics();
    for (const auto end = Clock::now() + std::chrono::seconds(10); !done(m) && Clock::now() < end; m = Metrics())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return m;
  }
  static std::string Completion(int max_tokens, bool stream) {
    return json{{"prompt", "once upon a time"}, {"max_tokens", max_tokens}, {"ignore_eos", true},
                {"temperature", 0}, {"stream", stream}}.dump();
  }
  void ExpectHangingUpFreesTheSlot(const std::string& body, const std::string& path);
  std::unique_ptr<Server> server_;
};

// A raw connection that has sent a whole request and will never read the answer.
int SendAndForget(int port, const std::string& body, const std::string& path = "/v1/completions") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) return -1;
  const std::string request = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()) ? fd : -1;
}

// Sends `body` to `path` on the one slot, hangs up once it runs, then expects a short request
// to be answered at once: the abandoned one was cancelled.
void UnderLoad::ExpectHangingUpFreesTheSlot(const std::string& body, const std::string& path) {
  const int fd = SendAndForget(server_->port(), body, path);
  ASSERT_GE(fd, 0);
  AwaitMetrics([](const std::string& m) { return Sample(m, "kvfuse_requests_in_progress") == 1; });
  ::close(fd);
  const auto t0 = Clock::now();
  httplib::Client c("127.0.0.1", server_->port());
  c.set_read_timeout(30, 0);
  auto next = c.Post("/v1/completions", Completion(4, false), "application/json");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1500)) << "the next request waited for the abandoned one";
}

TEST_F(UnderLoad, AWholeCompletionWhoseClientHangsUpFreesItsSlot) {
  Start(16384);
  // 16,000 tokens would take this model many seconds.
  ExpectHangingUpFreesTheSlot(Completion(16000, false), "/v1/completions");
  const std::string m =
      AwaitMetrics([](const std::string& m) { return Sample(m, "kvfuse_requests_in_progress") == 0; });
  EXPECT_EQ(Sample(m, "kvfuse_requests_in_progress"), 0);
}

// A stream that offers tools sends nothing until its answer is whole (a call or text is known
// only at the end): the client's leaving is noticed by probing, not by a failed write.
TEST_F(UnderLoad, AStreamHeldBackForToolCallsFreesItsSlotWhenItsClientHangsUp) {
  Start(16384);
  const json tool = {{"type", "function"},
                     {"function", {{"name", "now"}, {"parameters", {{"type", "object"}, {"properties", json::object()}}}}}};
  const std::string body = json{{"messages", {{{"role", "user"}, {"content", "what time is it?"}}}},
                                {"tools", {tool}}, {"max_tokens", 16000}, {"ignore_eos", true},
                                {"temperature", 0}, {"stream", true}}.dump();
  ExpectHangingUpFreesTheSlot(body, "/v1/chat/completions");
}

TEST_F(UnderLoad, TimeToFirstTokenCountsTheWaitForASlotAndProbesAreNotRequests) {
  Start(4096);
  httplib::Client probe("127.0.0.1", server_->port());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(probe.Get("/health")->status, 200);
  // The first request streams; once its first token is out, its time to first token is in.
  std::atomic<int> events{0};
  std::thread first([&] {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = Completion(2000, true);
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      for (size_t at = 0; (at = std::string_view(data, n).find("data: ", at)) != std::string::npos; ++at) ++events;
      return true;
    };
    c.send(req);
  });
  for (const auto end = Clock::now() + std::chrono::seconds(10); events < 2 && Clock::now() < end;)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_GE(events, 2) << "no first token";  // the opening event, then the first token's
  const std::string before = Metrics();
  ASSERT_EQ(Sample(before, "kvfuse_time_to_first_token_seconds_count"), 1);
  // The second waits for the slot the first holds.
  double waited = 0;
  std::thread second([&] {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    const auto t0 = Clock::now();
    auto r = c.Post("/v1/completions", Completion(1, false), "application/json");
    waited = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_TRUE(r && r->status == 200);
  });
  const std::string both = AwaitMetrics([](const std::string& m) {
    return (Sample(m, "kvfuse_requests_in_progress") == 2 && Sample(m, "kvfuse_queue_length") == 1) ||
           Sample(m, "kvfuse_time_to_first_token_seconds_count") == 2;
  });
  EXPECT_EQ(Sample(both, "kvfuse_requests_in_progress"), 2);
  EXPECT_EQ(Sample(both, "kvfuse_queue_length"), 1);
  second.join();
  const std::string after = Metrics();
  ASSERT_EQ(Sample(after, "kvfuse_time_to_first_token_seconds_count"), 2);
  const double ttft = Sample(after, "kvfuse_time_to_first_token_seconds_sum") -
                      Sample(before, "kvfuse_time_to_first_token_seconds_sum");
  ASSERT_GT(waited, 0.1) << "the first request did not hold the slot long enough to tell";
  EXPECT_GT(ttft, 0.75 * waited) << "the second request's time to first token left out its wait";
  first.join();
  // Two completions; the probes (and the polling of /metrics) are not counted.
  const std::string end = AwaitMetrics([](const std::string& m) { return RequestsCounted(m) >= 2; });
  EXPECT_EQ(RequestsCounted(end), 2);
  EXPECT_EQ(Sample(end, "kvfuse_requests_total{status=\"200\"}"), 2);
  EXPECT_EQ(Sample(end, "kvfuse_requests_in_progress"), 0);
  EXPECT_GT(Sample(end, "kvfuse_kv_blocks"), 0);
  EXPECT_EQ(Sample(end, "kvfuse_kv_blocks_total"), -1) << "a gauge named like a counter";
  EXPECT_GE(Sample(end, "kvfuse_recycled_bytes_waiting"), 0);
  EXPECT_EQ(Sample(end, "kvfuse_fused_prefills_redone_total"), 0) << "no request asked for fallback_below";
}

TEST(ServerPort, APortInUseIsRefusedWithItsCode) {
  Server first(TinyServerOptions(256));
  ASSERT_TRUE(first.Start().ok());
  ServerOptions o = TinyServerOptions(256);
  o.port = first.port();
  Server second(o);
  const util::Status st = second.Start();
  EXPECT_EQ(st.code(), util::StatusCode::kUnavailable);
  EXPECT_NE(st.message().find(std::to_string(first.port())), std::string::npos) << st.message();
  ASSERT_TRUE(first.WaitReady());
  httplib::Client c("127.0.0.1", first.port());
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace kvfuse::server
