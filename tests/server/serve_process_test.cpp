// `kvfuse serve` as a child process: SIGTERM with a long generation running stops accepting
// at once and exits within --shutdown-timeout, the client told why; a second server on a
// port in use exits non-zero naming the port.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "../cli/kvfuse_process.h"
#include "server/server.h"
#include "tiny_server_options.h"

namespace kvfuse::server {
namespace {

using Clock = std::chrono::steady_clock;

// The port from the server's "listening on http://HOST:PORT", or -1.
int PortOf(const std::string& output) {
  const size_t at = output.find("listening on http://");
  const size_t colon = at == std::string::npos ? at : output.find(':', at + 20);
  return colon == std::string::npos ? -1 : std::atoi(output.c_str() + colon + 1);
}

std::string TinyModel() { return TinyServerOptions(256).engine.model_path; }

TEST(ServeProcess, SigtermWithALongGenerationExitsWithinTheShutdownTimeout) {
  cli::KvfuseProcess serve({"serve", "-m", TinyModel(), "--port", "0", "-t", "1", "-c", "32768", "-np", "1",
                      "--shutdown-timeout", "1"});
  ASSERT_GT(serve.pid(), 0);
  ASSERT_TRUE(serve.AwaitOutput("model ready", std::chrono::seconds(20))) << serve.output();
  const int port = PortOf(serve.output());
  ASSERT_GT(port, 0) << serve.output();
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
  EXPECT_EQ(*status, 0) << serve.output();
  EXPECT_GE(took, 0.9) << "the running request was not given its time";
  EXPECT_LT(took, 1.0 + 1.5) << "the shutdown took too long";
  EXPECT_NE(body.find("the server is shutting down"), std::string::npos) << body.substr(body.size() > 300 ? body.size() - 300 : 0);
  EXPECT_NE(body.find("[DONE]"), std::string::npos);
}

TEST(ServeProcess, ASecondServerOnAPortInUseExitsNamingThePort) {
  Server first(TinyServerOptions(256));
  ASSERT_TRUE(first.Start().ok());
  const std::string port = std::to_string(first.port());
  cli::KvfuseProcess second({"serve", "-m", TinyModel(), "--port", port});
  ASSERT_GT(second.pid(), 0);
  const std::optional<int> status = second.AwaitExit(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "a second server started on a port in use: " << second.output();
  EXPECT_GT(*status, 0) << "an exit code, not a signal";
  EXPECT_NE(second.output().find("port " + port + " is already in use"), std::string::npos) << second.output();
}

}  // namespace
}  // namespace kvfuse::server
