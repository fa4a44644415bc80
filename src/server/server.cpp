#include "server/server.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/guarded_http_server.h"
#include "server/json_body.h"
#include "server/openai_api.h"

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

// Bytes that are not UTF-8 (a client's text can hold any) become U+FFFD rather than an exception.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void SendError(httplib::Response& res, const ApiError& e) { SendJson(res, e.status, ErrorBody(e)); }

int64_t UnixTime() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The body as a JSON object, or a 400 already written.
std::optional<json> ParseBody(const httplib::Request& req, httplib::Response& res) {
  auto body = ParseJsonObject(req.body);
  if (auto* error = std::get_if<ApiError>(&body)) {
    SendError(res, *error);
    return std::nullopt;
  }
  return std::get<json>(std::move(body));
}

// Every route first releases its connection from the read deadline and its address's count.
httplib::Server::Handler Route(httplib::Server::Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    GuardedHttpServer::RequestRead();
    handler(req, res);
  };
}

}  // namespace

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      http_(std::make_unique<GuardedHttpServer>(ConnectionLimits{
          std::chrono::milliseconds(options_.request_read_ms), options_.max_waiting_per_address})) {}

Server::~Server() { Stop(); }

void Server::Load() {
  // Chunk KV is content-addressed: the first collection's store serves every request.
  if (options_.engine.chunk_store_dir.empty() && !options_.collections.empty())
    options_.engine.chunk_store_dir = options_.collections.front() + "/kv";
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
  scheduler_ = std::make_unique<engine::Scheduler>(
      *engine_, metrics_, engine::SchedulerOptions{options_.max_queue, options_.slots, options_.batch_tokens});
  metrics_.SetKvUsage(0, engine_->block_pool().n_blocks());
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
  scheduler_.reset();
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

  // Every model route needs the model; 503 until it has loaded.
  auto loaded = [this](httplib::Response& res) {
    if (ready_) return true;
    SendError(res, {503, failed_ ? "the model failed to load: " + load_error_ : "the model is loading",
                    "unavailable_error", ""});
    return false;
  };

  s.Get("/health", Route([this, loaded](const httplib::Request&, httplib::Response& res) {
    if (loaded(res)) SendJson(res, 200, {{"status", "ok"}});
  }));
  s.Get("/metrics", Route([this](const httplib::Request&, httplib::Response& res) {
    std::string text = metrics_.Render();
    if (ready_) {
      std::map<std::string, uint64_t> damaged;
      for (const auto& [name, c] : collections_) damaged[name] = c.damaged_files();
      text += RenderDamagedFiles(engine_->chunk_store().corrupt_total(), damaged);
    }
    res.set_content(text, "text/plain; version=0.0.4");
  }));
  s.Get("/v1/models", Route([this, loaded](const httplib::Request&, httplib::Response& res) {
    if (!loaded(res)) return;
    SendJson(res, 200,
             {{"object", "list"},
              {"data", json::array({{{"id", model_name_}, {"object", "model"}, {"created", UnixTime()},
                                     {"owned_by", "kvfuse"}, {"meta", {{"n_ctx", engine_->n_ctx()},
                                                                       {"n_vocab", engine_->hparams().n_vocab}}}}})}});
  }));
  s.Post("/tokenize", Route([this, loaded](const httplib::Request& req, httplib::Response& res) {
    if (!loaded(res)) return;
    auto body = ParseBody(req, res);
    if (!body) return;
    if (!body->contains("content") || !(*body)["content"].is_string())
      return SendError(res, {400, "'content' must be a string", "invalid_request_error", "content"});
    const json& add = body->value("add_special", json(false));
    if (!add.is_boolean())
      return SendError(res, {400, "'add_special' must be a boolean", "invalid_request_error", "add_special"});
    const bool add_special = add.get<bool>();
    SendJson(res, 200, {{"tokens", engine_->tokenizer()->Encode((*body)["content"].get<std::string>(), add_special)}});
  }));
  s.Post("/detokenize", Route([this, loaded](const httplib::Request& req, httplib::Response& res) {
    if (!loaded(res)) return;
    auto body = ParseBody(req, res);
    if (!body) return;
    const json& t = body->value("tokens", json());
    std::vector<int32_t> ids;
    if (!t.is_array()) return SendError(res, {400, "'tokens' must be an array of token ids", "invalid_request_error", "tokens"});
    for (const json& x : t) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= engine_->hparams().n_vocab)
        return SendError(res, {400, "'tokens' holds an id outside the vocabulary", "invalid_request_error", "tokens"});
      ids.push_back(x.get<int32_t>());
    }
    SendJson(res, 200, {{"content", engine_->tokenizer()->Decode(ids)}});
  }));
  s.Post("/v1/embeddings", Route([this, loaded](const httplib::Request& req, httplib::Response& res) {
    if (!loaded(res)) return;
    auto body = ParseBody(req, res);
    if (!body) return;
    std::vector<std::string> inputs;
    const json& in = body->value("input", json());
    if (in.is_string()) inputs.push_back(in.get<std::string>());
    else if (in.is_array() && !in.empty() && in.size() <= 256)
      for (const json& x : in) {
        if (!x.is_string()) return SendError(res, {400, "'input' must be strings", "invalid_request_error", "input"});
        inputs.push_back(x.get<std::string>());
      }
    else return SendError(res, {400, "'input' must be a string or an array of 1 to 256 strings", "invalid_request_error", "input"});
    json data = json::array();
    std::optional<ApiError> error;
    int total = 0;
    scheduler_->RunExclusive([&] {
      for (size_t i = 0; i < inputs.size() && !error; ++i) {
        const std::vector<int32_t> tokens = engine_->tokenizer()->Encode(inputs[i], true);
        total += static_cast<int>(tokens.size());
        auto v = engine_->Embed(tokens, engine_->hparams().n_layers);
        if (!v.ok()) error = ApiError{400, v.status().message(), "invalid_request_error", "input"};
        else data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", v.value()}});
      }
    });
    if (error) return SendError(res, *error);
    SendJson(res, 200, {{"object", "list"}, {"data", data}, {"model", model_name_},
                        {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}});
  }));

  auto completion = [this, loaded](bool chat) {
    return [this, loaded, chat](const httplib::Request& req, httplib::Response& res) {
      if (!loaded(res)) return;
      auto body = ParseBody(req, res);
      if (!body) return;
      ApiLimits limits;
      limits.default_max_tokens = options_.max_tokens_default;
      limits.max_prompt_tokens = engine_->n_ctx() - 1;
      Retriever retrieve = [this](const std::string& name, const std::string& query,
                                  int k) -> std::variant<RetrievedChunks, ApiError> {
        const auto it = collections_.find(name);
        if (it == collections_.end()) return ApiError{404, "no collection '" + name + "' on this server", "not_found_error", "collection"};
        const rag::Collection& c = it->second;
        std::vector<float> q;
        if (c.model_fingerprint() == engine_->model_fingerprint())
          scheduler_->RunExclusive([&] {
            auto v = engine_->EmbedText(query, c.embed_layer());
            if (v.ok()) q = std::move(v).value();
          });
        rag::SearchOptions so;
        so.k = static_cast<size_t>(k);
        RetrievedChunks out;
        for (const rag::SearchHit& h : c.Search(query, q.empty() ? nullptr : q.data(), so)) {
          out.ids.push_back(name + "#" + std::to_string(h.id));
          out.texts.push_back(c.chunk(h.id)->text);
        }
        return out;
      };
      auto parsed = ParseCompletionRequest(*body, chat, *engine_, limits, retrieve);
      if (auto* err = std::get_if<ApiError>(&parsed)) return SendError(res, *err);
      ParsedRequest& p = std::get<ParsedRequest>(parsed);
      engine::GenerationRequest& g = p.generation;
      if (g.prompt.size() + g.max_tokens > engine_->n_ctx()) g.max_tokens = engine_->n_ctx() - g.prompt.size();
      g.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options_.request_timeout_s);
      auto channel = std::make_shared<engine::GenerationChannel>();
      const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_++);
      const int64_t created = UnixTime();
      const bool stream = p.stream;
      const std::vector<std::string> docs = p.document_ids;
      if (!scheduler_->Submit(std::move(g), channel))
        return SendError(res, {429, "the server is busy: too many requests waiting", "rate_limit_error", ""});
      if (!stream) {
        while (channel->Next()) {
        }
        const engine::GenerationResult& r = channel->result();
        if (!r.error.empty()) return SendError(res, {500, r.error, "server_error", ""});
        return SendJson(res, 200, CompletionBody(r, chat, id, model_name_, created, docs));
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [this, channel, chat, id, created, docs](size_t, httplib::DataSink& sink) {
            auto send = [&](const std::string& data) {
              const std::string event = "data: " + data + "\n\n";
              if (!sink.is_writable() || !sink.write(event.data(), event.size())) {
                channel->Cancel();  // the client went away: the scheduler stops it at its next step
                return false;
              }
              return true;
            };
            json first = StreamChunk(chat, id, model_name_, created, "", nullptr);
            if (chat) first["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
            if (!docs.empty()) first["documents_used"] = docs;
            if (!send(Dump(first))) return false;
            while (auto piece = channel->Next())
              if (!send(Dump(StreamChunk(chat, id, model_name_, created, *piece, nullptr)))) return false;
            const engine::GenerationResult& r = channel->result();
            if (!r.error.empty()) {
              send(Dump(ErrorBody({500, r.error, "server_error", ""})));
            } else if (!send(Dump(StreamChunk(chat, id, model_name_, created, "", &r)))) {
              return false;
            }
            send("[DONE]");
            sink.done();
            return true;
          },
          [channel](bool) { channel->Cancel(); });
    };
  };
  s.Post("/v1/chat/completions", Route(completion(true)));
  s.Post("/v1/completions", Route(completion(false)));
}

}  // namespace kvfuse::server
