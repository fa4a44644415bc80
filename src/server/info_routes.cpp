// Server routes around the model: /health, /metrics, /v1/models, /tokenize, /detokenize and
// /v1/embeddings. Run on HTTP worker threads; model work goes through the scheduler.
#include <map>

#include "server/guarded_http_server.h"
#include "server/http_reply.h"
#include "server/server.h"

namespace kvfuse::server {

using json = nlohmann::json;

bool Server::Loaded(httplib::Response& res) const {
  if (ready_) return true;
  SendError(res, {503, failed_ ? "the model failed to load: " + load_error_ : "the model is loading",
                  "unavailable_error", ""});
  return false;
}

void Server::AddInfoRoutes() {
  httplib::Server& s = *http_;
  s.Get("/health", Route([this](const httplib::Request&, httplib::Response& res) {
    if (in_flight_.closed()) return SendError(res, {503, "the server is shutting down", "unavailable_error", ""});
    if (Loaded(res)) SendJson(res, 200, {{"status", "ok"}});
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
  s.Get("/v1/models", Route([this](const httplib::Request&, httplib::Response& res) {
    if (!Loaded(res)) return;
    const json meta = {{"n_ctx", engine_->n_ctx()}, {"n_vocab", engine_->hparams().n_vocab}};
    SendJson(res, 200,
             {{"object", "list"},
              {"data", json::array({{{"id", model_name_}, {"object", "model"}, {"created", UnixTime()},
                                     {"owned_by", "kvfuse"}, {"meta", meta}}})}});
  }));
  s.Post("/tokenize", Route([this](const httplib::Request& req, httplib::Response& res) { Tokenize(req, res); }));
  s.Post("/detokenize", Route([this](const httplib::Request& req, httplib::Response& res) { Detokenize(req, res); }));
  s.Post("/v1/embeddings", Route([this](const httplib::Request& req, httplib::Response& res) { Embeddings(req, res); }));
}

void Server::Tokenize(const httplib::Request& req, httplib::Response& res) {
  if (!Loaded(res)) return;
  auto body = ParseBody(req, res);
  if (!body) return;
  if (!body->contains("content") || !(*body)["content"].is_string())
    return SendError(res, {400, "'content' must be a string", "invalid_request_error", "content"});
  const json& add = body->value("add_special", json(false));
  if (!add.is_boolean())
    return SendError(res, {400, "'add_special' must be a boolean", "invalid_request_error", "add_special"});
  SendJson(res, 200, {{"tokens", engine_->tokenizer()->Encode((*body)["content"].get<std::string>(), add.get<bool>())}});
}

void Server::Detokenize(const httplib::Request& req, httplib::Response& res) {
  if (!Loaded(res)) return;
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
}

void Server::Embeddings(const httplib::Request& req, httplib::Response& res) {
  if (!Loaded(res)) return;
  auto body = ParseBody(req, res);
  if (!body) return;
  std::vector<std::string> inputs;
  const json& in = body->value("input", json());
  if (in.is_string()) {
    inputs.push_back(in.get<std::string>());
  } else if (in.is_array() && !in.empty() && in.size() <= 256) {
    for (const json& x : in) {
      if (!x.is_string()) return SendError(res, {400, "'input' must be strings", "invalid_request_error", "input"});
      inputs.push_back(x.get<std::string>());
    }
  } else {
    return SendError(res, {400, "'input' must be a string or an array of 1 to 256 strings", "invalid_request_error", "input"});
  }
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
}

}  // namespace kvfuse::server
