// kvfuse's OpenAI-compatible HTTP server: /v1/chat/completions and /v1/completions (with SSE
// streaming), /v1/models[/{id}], /v1/embeddings, /tokenize, /detokenize, /health, /metrics, and the
// RAG extension (documents, or a collection searched server-side, with a fusion mode per
// request). The model loads in the background: /health answers 503 until it is ready.
// A completion whose client hangs up is cancelled (streamed: at its next write; whole: the
// connection is probed while it waits). Stopping is graceful: no new connections or
// requests, the running ones get ServerOptions::shutdown_timeout_s to finish, then are
// cancelled.
//
// Threads: one owner thread calls Start, WaitReady and Stop/Shutdown (and destroys it);
// routes run on httplib's worker threads, generation on the scheduler's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "rag/collection.h"
#include "server/collection_registry.h"
#include "server/fidelity_monitor.h"
#include "server/in_flight.h"
#include "server/metrics.h"
#include "server/openai_api.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace kvfuse::server {

class GuardedHttpServer;

struct ServerOptions {
  engine::EngineOptions engine;
  std::string model_alias;         // the model id of /v1/models and of answers; empty: the file's name
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see Server::port())
  std::string api_key;             // empty: no authentication
  size_t max_body_bytes = 1 << 20;
  int32_t max_tokens_default = 256;
  size_t max_queue = 64;           // waiting requests before 429
  int slots = 4;                   // requests decoded together (continuous batching)
  int32_t batch_tokens = 512;      // tokens one scheduler iteration runs at most: decodes, then prefill work
  int tpot_target_ms = 50;         // while requests decode, each iteration's prefill is sized to this (0: off)
  double tpot_target_decode_steps = 0;  // or to this many measured decode steps, the shorter of both (0: off)
  int request_timeout_s = 600;     // then generation stops (finish_reason "length"), or an error before prefill ends
  int http_threads = 64;           // concurrent connections (a streaming client holds one)
  int request_read_ms = 10'000;    // a request's headers and body must arrive within this
  int max_waiting_per_address = 32;  // a client address's connections idle or sending a request
  int shutdown_timeout_s = 5;      // Stop: running requests may finish within this, then are cancelled
  std::vector<std::string> collections;  // directories; a request names one by its last path part
  // Where HTTP clients create collections (each subdirectory is one); empty: they cannot.
  std::string collections_dir;
  int32_t embed_layer = 0;  // of the embeddings of documents ingested over HTTP (as kvfuse ingest's)
  // Audits of fused requests against full prefill, and the recompute share kept at a target.
  FidelityOptions fidelity;
  // The chunk store is engine.chunk_store_dir alone (none when empty): the server never
  // derives it from a collection (`kvfuse serve` defaults it to the first one's kv/, else to
  // the collections directory's .kv).
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Binds, starts loading the model and serves until Stop(). An error if it cannot bind:
  // kUnavailable when the port is in use (by another server), else kInvalidArgument (no such
  // address here) or kUnknown; the message names the address and port.
  util::Status Start();
  // Shutdown(options.shutdown_timeout_s).
  void Stop();
  // Stops accepting connections and requests (new completions get a 503, /health a 503),
  // lets running requests finish until `grace` is up, then cancels those left (a client gets
  // a 503, or an error event when streamed); returns once every connection is closed and the
  // scheduler has stopped. Later calls return at once.
  void Shutdown(std::chrono::milliseconds grace);
  int port() const { return port_; }
  bool ready() const { return ready_; }
  // Waits until the model is loaded (or failed to); false on failure.
  bool WaitReady();
  // Once WaitReady returned false: why (the model's or a collection's error, which names the file).
  const std::string& load_error() const { return load_error_; }

 private:
  void Load();
  // server.cpp: limits, authentication and error bodies, then the routes of the files below.
  void Routes();
  // info_routes.cpp: /health, /metrics, /v1/fusion/audit, /v1/models[/{id}], /tokenize, /detokenize,
  // /v1/embeddings, and the CORS preflight (OPTIONS on any path).
  void AddInfoRoutes();
  nlohmann::json ModelObject() const;
  bool Loaded(httplib::Response& res) const;  // else a 503 is written
  void Tokenize(const httplib::Request& req, httplib::Response& res);
  void Detokenize(const httplib::Request& req, httplib::Response& res);
  void Embeddings(const httplib::Request& req, httplib::Response& res);
  // The fidelity monitor's part in a RAG request: the share the collection runs at when the
  // request names none, and whether it is audited.
  void ApplyFidelity(ParsedRequest& p);
  // native_routes.cpp: llama-server's /props, /slots and /apply-template.
  void AddNativeRoutes();
  // completion_routes.cpp: /v1/chat/completions, /v1/completions and llama-server's /completion.
  enum class CompletionApi { kChat, kText, kNative };
  void AddCompletionRoutes();
  void Complete(const httplib::Request& req, httplib::Response& res, CompletionApi api);
  // One channel per choice of a request.
  using Channels = std::vector<std::shared_ptr<engine::GenerationChannel>>;
  // The answer as server-sent events; `ticket` is held until the last one is written.
  void Stream(httplib::Response& res, Channels channels, const CompletionReply& reply, InFlight::Ticket ticket);
  std::variant<RetrievedChunks, ApiError> Retrieve(const std::string& collection, const std::string& query, int k);
  // collection_routes.cpp: /v1/collections (list, create), /v1/collections/{name} (delete),
  // its /files (upload and ingest, progress streamed) and /documents.
  void AddCollectionRoutes();
  // web_routes.cpp: the web page at /, served without a key.
  void AddWebRoutes();
  static bool IsWebAsset(const std::string& method, const std::string& path);
  void IngestUpload(const httplib::Request& req, httplib::Response& res, const std::string& name);

  ServerOptions options_;
  std::unique_ptr<GuardedHttpServer> http_;
  std::thread listener_, loader_;
  std::atomic<bool> ready_{false}, failed_{false};
  std::string load_error_;
  std::unique_ptr<engine::Engine> engine_;
  Metrics metrics_;
  FidelityMonitor fidelity_;
  InFlight in_flight_{metrics_};  // completion requests being answered
  engine::Scheduler* scheduler_ = nullptr;  // the engine's, once loaded
  CollectionRegistry collections_;
  std::string model_name_;
  std::string system_fingerprint_;  // of the loaded model
  std::atomic<uint64_t> next_id_{1};
  int port_ = 0;
};

}  // namespace kvfuse::server
