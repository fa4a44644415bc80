// Server routes around the model: /health, /metrics, /v1/fusion/audit (the fidelity
// monitor's audits, shares and decisions), /v1/models[/{id}], /tokenize,
// /detokenize, /v1/embeddings and the CORS preflight. Run on HTTP worker threads; model work
// goes through the scheduler.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <variant>

#include "server/guarded_http_server.h"
#include "server/http_reply.h"
#include "server/json_body.h"
#include "server/server.h"
#include "util/base64.h"
#include "server/unhonoured_params.h"

namespace kvfuse::server {

using json = nlohmann::json;

namespace {

// Authorization and Content-Type, and the headers a preflight asks for when they are a plain
// comma-separated list of header names (anything else is not echoed into a response header).
std::string AllowedHeaders(const std::string& requested) {
  const std::string base = "Authorization, Content-Type";
  if (requested.empty() || requested.size() > 1024) return base;
  for (const char c : requested)
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr("-_, ", c)) return base;
  return base + ", " + requested;
}

// Little-endian float32s in base64, the bytes OpenAI sends for encoding_format "base64".
std::string Base64OfFloats(const std::vector<float>& v) {
  std::string bytes;
  bytes.reserve(v.size() * 4);
  for (const float f : v) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  return util::Base64Encode(bytes);
}

// encoding_format ("float" or "base64") and dimensions (only the model's own size: no
// truncation is implemented) of an embeddings request; true for base64.
std::variant<bool, ApiError> ReadEmbeddingFormat(const json& body, int n_embd) {
  bool base64 = false;
  if (HasValue(body, "encoding_format")) {
    const json& f = body["encoding_format"];
    if (f != "float" && f != "base64")
      return ApiError{400, "'encoding_format' must be \"float\" or \"base64\"", "invalid_request_error",
                      "encoding_format"};
    base64 = f == "base64";
  }
  if (HasValue(body, "dimensions") &&
      !(body["dimensions"].is_number_integer() && body["dimensions"].get<int64_t>() == n_embd))
    return ApiError{400, "'dimensions' must be " + std::to_string(n_embd) + ", this model's embedding size",
                    "invalid_request_error", "dimensions"};
  return base64;
}

}  // namespace

json Server::ModelObject() const {
  return {{"id", model_name_},
          {"object", "model"},
          {"created", UnixTime()},
          {"owned_by", "kvfuse"},
          {"meta", {{"n_ctx", engine_->n_ctx()}, {"n_vocab", engine_->hparams().n_vocab}}}};
}

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
  s.Get("/v1/fusion/audit", Route([this](const httplib::Request&, httplib::Response& res) {
    res.set_content(Dump(fidelity_.Json()), "application/json");
  }));
  s.Get("/metrics", Route([this](const httplib::Request&, httplib::Response& res) {
    std::string text = metrics_.Render() + fidelity_.RenderMetrics();
    if (ready_) {
      std::map<std::string, uint64_t> damaged;
      for (const auto& entry : collections_.All()) {  // one being ingested is left out: a scrape never waits
        std::shared_lock<std::shared_timed_mutex> reading(entry->mu, std::try_to_lock);
        if (reading.owns_lock()) damaged[entry->name] = entry->collection.damaged_files();
      }
      text += RenderDamagedFiles(engine_->chunk_store().corrupt_total(), damaged);
      if (const auto* redis = engine_->chunk_store().remote()) text += RenderRedisTier(redis->stats());
    }
    res.set_content(text, "text/plain; version=0.0.4");
  }));
  s.Get("/v1/models", Route([this](const httplib::Request&, httplib::Response& res) {
    if (Loaded(res)) SendJson(res, 200, {{"object", "list"}, {"data", json::array({ModelObject()})}});
  }));
  s.Get(R"(/v1/models/(.+))", Route([this](const httplib::Request& req, httplib::Response& res) {
    if (!Loaded(res)) return;
    const std::string id = req.matches[1].str();
    if (id == model_name_) return SendJson(res, 200, ModelObject());
    SendError(res, {404, "no model '" + id.substr(0, 200) + "' on this server (it serves '" + model_name_ + "')",
                    "not_found_error", "model"});
  }));
  // A browser asks before a cross-origin POST with JSON or an Authorization header; the
  // answer names those headers (a "*" would not cover Authorization) and any others it asks
  // for, such as the OpenAI SDK's X-Stainless-*.
  s.Options(".*", Route([](const httplib::Request& req, httplib::Response& res) {
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", AllowedHeaders(req.get_header_value("Access-Control-Request-Headers")));
    res.set_header("Access-Control-Max-Age", "86400");
  }));
  s.Post("/tokenize", Route([this](const httplib::Request& req, httplib::Response& res) { Tokenize(req, res); }));
  s.Post("/detokenize", Route([this](const httplib::Request& req, httplib::Response& res) { Detokenize(req, res); }));
  s.Post("/v1/embeddings", Route([this](const httplib::Request& req, httplib::Response& res) { Embeddings(req, res); }));
}

void Server::Tokenize(const httplib::Request& req, httplib::Response& res) {
  if (!Loaded(res)) return;
  auto body = ParseBody(req, res);
  if (!body) return;
  if (auto err = RefuseUnknown(*body, ApiEndpoint::kTokenize)) return SendError(res, *err);
  if (!body->contains("content") || !(*body)["content"].is_string())
    return SendError(res, {400, "'content' must be a string", "invalid_request_error", "content"});
  if (body->value("with_pieces", json(false)) == true)
    return SendError(res, {400, "'with_pieces' is not supported: tokens are answered as ids (/detokenize gives text)",
                           "invalid_request_error", "with_pieces"});
  json add = body->value("add_special", json(false));
  if (add.is_null()) add = false;
  if (!add.is_boolean())
    return SendError(res, {400, "'add_special' must be a boolean", "invalid_request_error", "add_special"});
  SendJson(res, 200, {{"tokens", engine_->tokenizer()->Encode((*body)["content"].get<std::string>(), add.get<bool>())}});
}

void Server::Detokenize(const httplib::Request& req, httplib::Response& res) {
  if (!Loaded(res)) return;
  auto body = ParseBody(req, res);
  if (!body) return;
  if (auto err = RefuseUnknown(*body, ApiEndpoint::kDetokenize)) return SendError(res, *err);
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

namespace {

// An input the model cannot take is the client's to fix; a KV cache full of other requests'
// work is the server's, and a retry may succeed.
ApiError EmbedError(const util::Status& status) {
  switch (status.code()) {
    case util::StatusCode::kInvalidArgument:
      return {400, status.message(), "invalid_request_error", "input"};
    case util::StatusCode::kResourceExhausted:
    case util::StatusCode::kUnavailable:
      return {503, status.message() + " (the server is busy: retry)", "server_error", ""};
    default:
      return {500, status.message(), "server_error", ""};
  }
}

}  // namespace

void Server::Embeddings(const httplib::Request& req, httplib::Response& res) {
  if (!Loaded(res)) return;
  auto body = ParseBody(req, res);
  if (!body) return;
  if (auto err = RefuseUnknown(*body, ApiEndpoint::kEmbeddings)) return SendError(res, *err);
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
  const auto format = ReadEmbeddingFormat(*body, engine_->hparams().n_embd);
  if (auto* err = std::get_if<ApiError>(&format)) return SendError(res, *err);
  const bool base64 = std::get<bool>(format);
  json data = json::array();
  std::optional<ApiError> error;
  int total = 0;
  // An input at a time: the scheduler runs its iterations between them, so 256 long inputs
  // delay decoding requests by one input's prefill at most, not all of them.
  for (size_t i = 0; i < inputs.size() && !error; ++i) {
    scheduler_->RunExclusive([&] {
      const std::vector<int32_t> tokens = engine_->tokenizer()->Encode(inputs[i], true);
      total += static_cast<int>(tokens.size());
      auto v = engine_->Embed(tokens, engine_->hparams().n_layers);
      if (!v.ok()) error = EmbedError(v.status());
      else data.push_back({{"object", "embedding"}, {"index", i},
                           {"embedding", base64 ? json(Base64OfFloats(v.value())) : json(v.value())}});
    });
  }
  if (error) return SendError(res, *error);
  SendJson(res, 200, {{"object", "list"}, {"data", data}, {"model", model_name_},
                      {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}});
}

}  // namespace kvfuse::server
