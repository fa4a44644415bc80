#include "server/server.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <httplib.h>

#include "server/guarded_http_server.h"
#include "server/http_reply.h"

namespace kvfuse::server {

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      http_(std::make_unique<GuardedHttpServer>(ConnectionLimits{
          std::chrono::milliseconds(options_.request_read_ms), options_.max_waiting_per_address})),
      fidelity_(options_.fidelity) {
  metrics_.SetAuditObserver([this](const engine::AuditOutcome& o) { fidelity_.Observe(o); });
}

Server::~Server() { Stop(); }

void Server::Load() {
  auto engine = engine::Engine::Load(options_.engine);
  if (!engine.ok()) {
    load_error_ = engine.status().message();
    failed_ = true;
    return;
  }
  engine_ = std::move(engine).value();
  if (!engine_->tokenizer()) {
    load_error_ = "the model has no usable tokenizer: " + engine_->tokenizer_error();
    failed_ = true;
    return;
  }
  for (const std::string& dir : options_.collections) {
    if (util::Status st = collections_.AddExisting(dir); !st.ok()) {
      load_error_ = st.message();
      failed_ = true;
      return;
    }
  }
  if (options_.embed_layer > engine_->hparams().n_layers) {
    load_error_ = "--embed-layer " + std::to_string(options_.embed_layer) + " is past the model's " +
                  std::to_string(engine_->hparams().n_layers) + " layers";
    failed_ = true;
    return;
  }
  if (!options_.collections_dir.empty()) {
    if (util::Status st = collections_.UseRoot(options_.collections_dir); !st.ok()) {
      load_error_ = st.message();
      failed_ = true;
      return;
    }
  }
  model_name_ = options_.model_alias.empty() ? std::filesystem::path(options_.engine.model_path).filename().string()
                                             : options_.model_alias;
  system_fingerprint_ = SystemFingerprint(engine_->model_fingerprint());
  metrics_.SetKvUsage(0, engine_->block_pool().n_blocks());
  engine::SchedulerOptions scheduling{options_.max_queue, options_.slots, options_.batch_tokens,
                                      static_cast<double>(options_.tpot_target_ms)};
  scheduling.tpot_target_decode_steps = options_.tpot_target_decode_steps;
  scheduling.audit_tokens = options_.fidelity.audit_tokens;
  scheduler_ = &engine_->StartScheduler(metrics_, scheduling);
  ready_ = true;
}

bool Server::WaitReady() {
  while (!ready_ && !failed_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return ready_;
}

namespace {

// How long cancelled requests have to send their answers before writes are cut.
constexpr std::chrono::milliseconds kCancelledAnswerTime{1000};

// Why binding host:port failed, from the errno of the failed bind.
util::Status BindError(const std::string& host, int port, int error) {
  const std::string where = host + ":" + std::to_string(port);
  if (error == EADDRINUSE)
    return util::Status::Unavailable("cannot listen on " + where + ": port " + std::to_string(port) +
                                     " is already in use (another server?); choose another with --port");
  if (error == EADDRNOTAVAIL)
    return util::Status::InvalidArgument("cannot listen on " + where + ": " + host + " is not an address of this machine");
  return util::Status::Error("cannot listen on " + where + (error ? std::string(": ") + std::strerror(error) : ""));
}

}  // namespace

util::Status Server::Start() {
  Routes();
  errno = 0;
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ <= 0) return BindError(options_.host, 0, errno);
  } else {
    if (!http_->bind_to_port(options_.host, options_.port)) return BindError(options_.host, options_.port, errno);
    port_ = options_.port;
  }
  if (!http_->RaiseListenBacklog()) return util::Status::Error("cannot listen on the bound socket");
  loader_ = std::thread([this] { Load(); });
  listener_ = std::thread([this] { http_->Listen(); });
  return util::Status::Ok();
}

void Server::Stop() { Shutdown(std::chrono::seconds(options_.shutdown_timeout_s)); }

void Server::Shutdown(std::chrono::milliseconds grace) {
  using Clock = std::chrono::steady_clock;
  in_flight_.Close();  // from here a completion is refused, and /health says so
  http_->StopAccepting();
  if (!in_flight_.WaitIdle(Clock::now() + grace)) {
    in_flight_.CancelAll();  // each stops at the scheduler's next step
    // Their handlers answer and end within an iteration, unless a client stops reading.
    in_flight_.WaitIdle(Clock::now() + kCancelledAnswerTime);
  }
  http_->AbortWrites();
  if (listener_.joinable()) {
    http_->WaitListenEnded();
    listener_.join();
  }
  if (loader_.joinable()) loader_.join();
  if (engine_) engine_->StopScheduler();
  scheduler_ = nullptr;
}

void Server::Routes() {
  httplib::Server& s = *http_;
  const int threads = options_.http_threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(options_.max_body_bytes);
  s.set_write_timeout(30, 0);
  // Browser clients on other origins may read every answer (errors too); the preflight's
  // route is in info_routes.cpp. No cookies are used, so "*" exposes nothing a key does not.
  s.set_default_headers({{"Access-Control-Allow-Origin", "*"}});

  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // httplib inflates gzip, deflate and br bodies as it reads them, past any size limit.
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity") {
      SendError(res, {415, "compressed request bodies (Content-Encoding: " + encoding + ") are not accepted",
                      "invalid_request_error", ""});
      res.set_header("Connection", "close");  // its body was never read
      return httplib::Server::HandlerResponse::Handled;
    }
    // A browser's preflight never carries the key: it asks whether the real request may.
    if (options_.api_key.empty() || req.path == "/health" || req.method == "OPTIONS" || IsWebAsset(req.method, req.path))
      return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + options_.api_key)
      return httplib::Server::HandlerResponse::Unhandled;
    SendError(res, {401, "invalid or missing API key (Authorization: Bearer KEY)", "authentication_error", ""});
    res.set_header("Connection", "close");  // its body was never read
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib raises itself (404, 413, ...) get an OpenAI-shaped body too.
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_) return;
    const int st = res.status;
    const std::string type = st == 404 ? "not_found_error" : st == 413 ? "invalid_request_error" : "server_error";
    const std::string message = st == 404   ? "no such endpoint"
                                : st == 413 ? "the request body is too large"
                                            : "HTTP error " + std::to_string(st);
    SendJson(res, st, ErrorBody({st, message, type, ""}));
  });
  s.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::fprintf(stderr, "kvfuse: internal error in %s %s: %s\n", req.method.c_str(), req.path.c_str(), what.c_str());
    SendJson(res, 500, ErrorBody({500, "internal error", "server_error", ""}));
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (req.path != "/health" && req.path != "/metrics") metrics_.CountRequest(res.status);  // not probes
  });

  AddInfoRoutes();
  AddCompletionRoutes();
  AddNativeRoutes();
  AddCollectionRoutes();
  AddWebRoutes();
}

}  // namespace kvfuse::server
