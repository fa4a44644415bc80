// Collections over HTTP (the web page's, and any client's):
//   GET    /v1/collections                   the list: name, files, chunks, removable
//   POST   /v1/collections {"name"}          a new empty collection under --collections-dir
//   DELETE /v1/collections/{name}            one created so (its directory goes too)
//   POST   /v1/collections/{name}/files {"files": [{"name", "content", "encoding": "text"|"base64"}]}
//          the files saved into the collection and ingested (chunked, embedded, KV pre-computed
//          between scheduler iterations), as server-sent events: {"stage", "done", "total"}
//          while it runs, then {"report": {...}} and [DONE]
//   GET    /v1/collections/{name}/documents  its files and their chunks
// Errors have the API's shapes and codes (404 unknown collection, 400 bad names or files).
#include <filesystem>
#include <fstream>
#include <mutex>
#include <shared_mutex>

#include "server/guarded_http_server.h"
#include "server/http_reply.h"
#include "server/ingest_hooks.h"
#include "server/json_body.h"
#include "server/server.h"
#include "util/atomic_file.h"
#include "util/base64.h"

namespace kvfuse::server {

using json = nlohmann::json;

namespace {

json CollectionObject(CollectionEntry& entry) {
  std::shared_lock<std::shared_mutex> reading(entry.mu);
  return {{"id", entry.name}, {"object", "collection"}, {"files", entry.collection.files().size()},
          {"chunks", entry.collection.n_chunks()}, {"removable", entry.removable}};
}

ApiError ErrorOf(const util::Status& s, const std::string& param) {
  switch (s.code()) {
    case util::StatusCode::kNotFound: return {404, s.message(), "not_found_error", param};
    case util::StatusCode::kInvalidArgument: return {400, s.message(), "invalid_request_error", param};
    case util::StatusCode::kUnavailable: return {403, s.message(), "permission_error", param};
    default: return {500, s.message(), "server_error", ""};
  }
}

// The uploaded files written into `dir`/files; their paths, or the error naming the file.
std::variant<std::vector<std::string>, ApiError> SaveUploads(const json& body, const std::string& dir) {
  if (!body.contains("files") || !body["files"].is_array() || body["files"].empty())
    return Invalid("files", "'files' must be a non-empty array of {\"name\", \"content\", \"encoding\"}");
  const std::filesystem::path folder = std::filesystem::path(dir) / "files";
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return ApiError{500, "cannot create " + folder.string() + ": " + ec.message(), "server_error", ""};
  std::vector<std::string> paths;
  for (const json& f : body["files"]) {
    const bool shaped = f.is_object() && f.contains("name") && f["name"].is_string() && f.contains("content") && f["content"].is_string();
    if (!shaped) return Invalid("files", "each file needs a string 'name' and a string 'content'");
    const std::string name = std::filesystem::path(f["name"].get<std::string>()).filename().string();
    if (!CollectionRegistry::ValidName(name)) return Invalid("files", "file name '" + name.substr(0, 64) + "': letters, digits, '.', '_' or '-' only");
    const std::string encoding = f.value("encoding", "text");
    std::optional<std::string> bytes = encoding == "base64" ? util::Base64Decode(f["content"].get<std::string>())
                                       : encoding == "text" ? std::optional<std::string>(f["content"].get<std::string>())
                                                            : std::nullopt;
    if (!bytes) return Invalid("files", "file " + name + ": 'encoding' must be text or base64 (and the content so)");
    const std::string path = (folder / name).string();
    if (util::Status s = util::WriteFileAtomically(path, *bytes); !s.ok()) return ApiError{500, s.message(), "server_error", ""};
    paths.push_back(path);
  }
  return paths;
}

json ReportObject(const rag::IngestReport& r, size_t n_chunks) {
  return {{"files_new", r.files_new}, {"files_changed", r.files_changed}, {"files_unchanged", r.files_unchanged},
          {"files_failed", r.files_failed}, {"chunks_added", r.chunks_added}, {"chunks_removed", r.chunks_removed},
          {"chunks_embedded", r.chunks_embedded}, {"chunks_warmed", r.chunks_warmed}, {"chunks", n_chunks},
          {"errors", r.errors}};
}

}  // namespace

void Server::AddCollectionRoutes() {
  http_->Get("/v1/collections", Route([this](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const auto& entry : collections_.All()) data.push_back(CollectionObject(*entry));
    SendJson(res, 200, {{"object", "list"}, {"data", std::move(data)}, {"can_create", collections_.can_create()}});
  }));
  http_->Post("/v1/collections", Route([this](const httplib::Request& req, httplib::Response& res) {
    if (!Loaded(res)) return;
    auto body = ParseBody(req, res);
    if (!body) return;
    if (!body->contains("name") || !(*body)["name"].is_string()) return SendError(res, Invalid("name", "'name' must be a string"));
    auto created = collections_.Create((*body)["name"].get<std::string>());
    if (!created.ok()) return SendError(res, ErrorOf(created.status(), "name"));
    SendJson(res, 201, CollectionObject(*created.value()));
  }));
  http_->Delete(R"(/v1/collections/([^/]+))", Route([this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (util::Status s = collections_.Remove(name); !s.ok()) return SendError(res, ErrorOf(s, "name"));
    SendJson(res, 200, {{"id", name}, {"object", "collection"}, {"deleted", true}});
  }));
  http_->Get(R"(/v1/collections/([^/]+)/documents)", Route([this](const httplib::Request& req, httplib::Response& res) {
    const auto entry = collections_.Find(req.matches[1]);
    if (!entry) return SendError(res, ErrorOf(util::Status::NotFound("no collection '" + std::string(req.matches[1]) + "'"), "name"));
    std::shared_lock<std::shared_mutex> reading(entry->mu);
    json data = json::array();
    for (const rag::CollectionFile& f : entry->collection.files()) {
      json chunks = json::array();
      for (int32_t id : f.chunk_ids)
        if (const rag::CollectionChunk* c = entry->collection.chunk(id))
          chunks.push_back({{"id", id}, {"heading", c->heading}, {"tokens", c->n_tokens}, {"text", c->text}});
      data.push_back({{"file", std::filesystem::path(f.path).filename().string()}, {"chunks", std::move(chunks)}});
    }
    SendJson(res, 200, {{"object", "list"}, {"collection", entry->name}, {"data", std::move(data)}});
  }));
  http_->Post(R"(/v1/collections/([^/]+)/files)", Route([this](const httplib::Request& req, httplib::Response& res) {
    IngestUpload(req, res, req.matches[1]);
  }));
}

void Server::IngestUpload(const httplib::Request& req, httplib::Response& res, const std::string& name) {
  if (!Loaded(res)) return;
  const auto entry = collections_.Find(name);
  if (!entry) return SendError(res, ErrorOf(util::Status::NotFound("no collection '" + name + "' on this server"), "name"));
  if (!entry->removable)
    return SendError(res, {403, "collection " + name + " was given at start: add to it with kvfuse ingest", "permission_error", "name"});
  auto body = ParseBody(req, res);
  if (!body) return;
  auto saved = SaveUploads(*body, entry->collection.dir());
  if (auto* err = std::get_if<ApiError>(&saved)) return SendError(res, *err);
  std::vector<std::string> paths = std::get<std::vector<std::string>>(std::move(saved));
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [this, entry, paths](size_t, httplib::DataSink& sink) {
    auto send = [&](const json& event) {
      const std::string text = "data: " + Dump(event) + "\n\n";
      return sink.is_writable() && sink.write(text.data(), text.size());
    };
    std::unique_lock<std::shared_mutex> writing(entry->mu);  // searches of it wait for the ingest
    rag::IngestHooks hooks = EngineIngestHooks(*engine_, options_.embed_layer, /*warm=*/true,
                                               [this](const std::function<void()>& fn) { scheduler_->RunExclusive(fn); });
    hooks.progress = [&](std::string_view stage, size_t done, size_t total) {
      send({{"stage", stage}, {"done", done}, {"total", total}});  // a client gone away stops nothing
    };
    const rag::IngestReport report = entry->collection.Ingest(paths, rag::ChunkOptions{}, hooks);
    json last = {{"report", ReportObject(report, entry->collection.n_chunks())}};
    if (util::Status s = entry->collection.Save(); !s.ok()) last["error"] = s.message();
    send(last);
    const std::string done = "data: [DONE]\n\n";
    if (sink.is_writable()) sink.write(done.data(), done.size());
    sink.done();
    return true;
  });
}

}  // namespace kvfuse::server
