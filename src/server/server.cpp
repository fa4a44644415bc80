#include "server/server.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <httplib.h>

#include "server/guarded_http_server.h"
#include "server/http_reply.h"

namespace kvfuse::server {

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      http_(std::make_unique<GuardedHttpServer>(ConnectionLimits{
          std::chrono::milliseconds(options_.request_read_ms), options_.max_waiting_per_address})) {}

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
    auto c = rag::Collection::Open(dir);
    if (!c.ok()) {
      load_error_ = c.status().message();
      failed_ = true;
      return;
    }
    if (!c->warning().empty()) std::fprintf(stderr, "kvfuse: %s: %s\n", dir.c_str(), c->warning().c_str());
    collections_.emplace(std::filesystem::path(dir).filename().string(), std::move(c).value());
  }
  model_name_ = std::filesystem::path(options_.engine.model_path).filename().string();
  metrics_.SetKvUsage(0, engine_->block_pool().n_blocks());
  scheduler_ = &engine_->StartScheduler(
      metrics_, engine::SchedulerOptions{options_.max_queue, options_.slots, options_.batch_tokens});
  ready_ = true;
}

bool Server::WaitReady() {
  while (!ready_ && !failed_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return ready_;
}

util::Status Server::Start() {
  Routes();
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ <= 0) return util::Status::Error("cannot bind " + options_.host);
  } else {
    if (!http_->bind_to_port(options_.host, options_.port))
      return util::Status::Error("cannot bind " + options_.host + ":" + std::to_string(options_.port) +
                                 " (in use, or not an address of this machine)");
    port_ = options_.port;
  }
  if (!http_->RaiseListenBacklog()) return util::Status::Error("cannot listen on the bound socket");
  loader_ = std::thread([this] { Load(); });
  listener_ = std::thread([this] { http_->listen_after_bind(); });
  return util::Status::Ok();
}

void Server::Stop() {
  if (http_) http_->stop();
  if (listener_.joinable()) listener_.join();
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

  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // httplib inflates gzip, deflate and br bodies as it reads them, past any size limit.
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity") {
      SendError(res, {415, "compressed request bodies (Content-Encoding: " + encoding + ") are not accepted",
                      "invalid_request_error", ""});
      res.set_header("Connection", "close");  // its body was never read
      return httplib::Server::HandlerResponse::Handled;
    }
    if (options_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + options_.api_key)
      return httplib::Server::HandlerResponse::Unhandled;
    SendError(res, {401, "invalid or missing API key (Authorization: Bearer KEY)", "authentication_error", ""});
    res.set_header("Connection", "close");  // its body was never read
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib raises itself (404, 413, ...) get an OpenAI-shaped body too.
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
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
  s.set_logger([this](const httplib::Request&, const httplib::Response& res) { metrics_.CountRequest(res.status); });

  AddInfoRoutes();
  AddCompletionRoutes();
}

}  // namespace kvfuse::server
