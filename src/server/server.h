// kvfuse's OpenAI-compatible HTTP server: /v1/chat/completions and /v1/completions (with SSE
// streaming), /v1/models, /v1/embeddings, /tokenize, /detokenize, /health, /metrics, and the
// RAG extension (documents, or a collection searched server-side, with a fusion mode per
// request). The model loads in the background: /health answers 503 until it is ready.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "rag/collection.h"
#include "server/metrics.h"

namespace kvfuse::server {

class GuardedHttpServer;

struct ServerOptions {
  engine::EngineOptions engine;
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see Server::port())
  std::string api_key;             // empty: no authentication
  size_t max_body_bytes = 1 << 20;
  int32_t max_tokens_default = 256;
  size_t max_queue = 64;           // waiting requests before 429
  int slots = 4;                   // requests decoded together (continuous batching)
  int32_t batch_tokens = 512;      // tokens one scheduler iteration runs: decodes, then prefill work
  int request_timeout_s = 600;     // then generation stops (finish_reason "length"), or an error before prefill ends
  int http_threads = 64;           // concurrent connections (a streaming client holds one)
  int request_read_ms = 10'000;    // a request's headers and body must arrive within this
  int max_waiting_per_address = 32;  // a client address's connections idle or sending a request
  std::vector<std::string> collections;  // directories; a request names one by its last path part
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Binds, starts loading the model and serves until Stop(). Returns an error if it cannot bind.
  util::Status Start();
  void Stop();
  int port() const { return port_; }
  bool ready() const { return ready_; }
  // Waits until the model is loaded (or failed to); false on failure.
  bool WaitReady();

 private:
  void Load();
  void Routes();

  ServerOptions options_;
  std::unique_ptr<GuardedHttpServer> http_;
  std::thread listener_, loader_;
  std::atomic<bool> ready_{false}, failed_{false};
  std::string load_error_;
  std::unique_ptr<engine::Engine> engine_;
  Metrics metrics_;
  std::unique_ptr<engine::Scheduler> scheduler_;
  std::map<std::string, rag::Collection> collections_;
  std::string model_name_;
  std::atomic<uint64_t> next_id_{1};
  int port_ = 0;
};

}  // namespace kvfuse::server
