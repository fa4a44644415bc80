// Collections over HTTP (the web page's, and any client's):
//   GET    /v1/collections                   the list: name, files, chunks, removable
//   POST   /v1/collections {"name"}          a new empty collection under --collections-dir
//   DELETE /v1/collections/{name}            one created so (its directory goes too)
//   POST   /v1/collections/{name}/files {"files": [{"name", "content", "encoding": "text"|"base64"}]}
//          the files saved into the collection and ingested (chunked, embedded, KV pre-computed
//          between scheduler iterations), as server-sent events: {"stage", "done", "total"}
//          while it runs, then {"report": {...}} and [DONE]
//   GET    /v1/collections/{name}/documents  its files and their chunks
// Errors have the API's shapes and codes: 404 unknown collection, 400 bad names or files, 409 a
// name in use, 403 a collection given at start or a browser page of another origin.
#include <filesystem>
#include <fstream>
#include <mutex>
#include <shared_mutex>
#include <unordered_set>

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

// A collection as the list shows it; one being ingested says so instead of its counts (the
// list does not wait for an ingest).
json CollectionObject(CollectionEntry& entry) {
  json c = {{"id", entry.name}, {"object", "collection"}, {"removable", entry.removable}};
  std::shared_lock<std::shared_timed_mutex> reading(entry.mu, std::try_to_lock);
  if (!reading.owns_lock()) {
    c["ingesting"] = true;
    return c;
  }
  c["files"] = entry.collection.files().size();
  c["chunks"] = entry.collection.n_chunks();
  return c;
}

// Collections hold users' documents: a browser may reach these routes from this server's own
// page only (another site's page could otherwise read or fill them when no key is set). Clients
// that are not browsers send no Origin.
bool ForeignOrigin(const httplib::Request& req) {
  const std::string origin = req.get_header_value("Origin");
  if (origin.empty()) return false;
  const std::string host = req.get_header_value("Host");
  return origin != "http://" + host && origin != "https://" + host;
}

const ApiError kForeignOrigin{403, "collections are reached from this server's own page, or by clients that send no Origin",
                              "permission_error", ""};

struct Upload {
  std::string name, bytes;
};

ApiError ErrorOf(const util::Status& s, const std::string& param) {
  switch (s.code()) {
    case util::StatusCode::kNotFound: return {404, s.message(), "not_found_error", param};
    case util::StatusCode::kInvalidArgument: return {400, s.message(), "invalid_request_error", param};
    case util::StatusCode::kUnavailable: return {409, s.message(), "invalid_request_error", param};  // busy
    case util::StatusCode::kPermissionDenied: return {403, s.message(), "permission_error", param};
    case util::StatusCode::kAlreadyExists: return {409, s.message(), "invalid_request_error", param};
    default: return {500, s.message(), "server_error", ""};
  }
}

// The uploaded files, every one checked and decoded before any is written; names reduced to
// a safe file name.
std::variant<std::vector<Upload>, ApiError> ReadUploads(const json& body) {
  if (!body.contains("files") || !body["files"].is_array() || body["files"].empty())
    return Invalid("files", "'files' must be a non-empty array of {\"name\", \"content\", \"encoding\"}");
  std::vector<Upload> uploads;
  std::unordered_set<std::string> saved_names;
  for (const json& f : body["files"]) {
    const bool shaped = f.is_object() && f.contains("name") && f["name"].is_string() && f.contains("content") && f["content"].is_string();
    if (!shaped) return Invalid("files", "each file needs a string 'name' and a string 'content'");
    const std::string name = CollectionRegistry::SafeName(std::filesystem::path(f["name"].get<std::string>()).filename().string());
    for (const auto& [key, value] : f.items())
      if (!value.is_null() && key != "name" && key != "content" && key != "encoding")
        return Invalid("files", "file " + name + ": unknown field '" + key.substr(0, 40) + "' (name, content, encoding)");
    // Two names that reduce to one file would overwrite each other; a temporary's name would
    // be removed as a killed write's when the collection is opened again.
    if (!saved_names.insert(name).second)
      return Invalid("files", "two files are named " + name + " (as saved): rename one");
    if (util::TemporaryFileWriterPid(name) != 0)
      return Invalid("files", "file " + name + ": named as kvfuse names its temporary files: rename it");
    if (HasValue(f, "encoding") && !f["encoding"].is_string())
      return Invalid("files", "file " + name + ": 'encoding' must be text or base64");
    const std::string encoding = HasValue(f, "encoding") ? f["encoding"].get<std::string>() : "text";
    std::optional<std::string> bytes = encoding == "base64" ? util::Base64Decode(f["content"].get<std::string>())
                                       : encoding == "text" ? std::optional<std::string>(f["content"].get<std::string>())
                                                            : std::nullopt;
    if (!bytes) return Invalid("files", "file " + name + ": 'encoding' must be text or base64 (and the content so)");
    uploads.push_back({name, std::move(*bytes)});
  }
  return uploads;
}

// The uploads written into `dir`/files (each atomically); their paths.
util::Result<std::vector<std::string>> SaveUploads(const std::vector<Upload>& uploads, const std::string& dir) {
  const std::filesystem::path folder = std::filesystem::path(dir) / kUploadFolder;
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return util::Status::Error("cannot create " + folder.string() + ": " + ec.message());
  std::vector<std::string> paths;
  for (const Upload& u : uploads) {
    const std::string path = (folder / u.name).string();
    KVFUSE_RETURN_IF_ERROR(util::WriteFileAtomically(path, u.bytes));
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
  // Each route: the model loaded (the collections are read with it), a browser only from this
  // server's page.
  const auto guarded = [this](auto handler) {
    return Route([this, handler](const httplib::Request& req, httplib::Response& res) {
      if (!Loaded(res)) return;
      if (ForeignOrigin(req)) return SendError(res, kForeignOrigin);
      handler(req, res);
    });
  };
  http_->Get("/v1/collections", guarded([this](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const auto& entry : collections_.All()) data.push_back(CollectionObject(*entry));
    SendJson(res, 200, {{"object", "list"}, {"data", std::move(data)}, {"can_create", collections_.can_create()}});
  }));
  http_->Post("/v1/collections", guarded([this](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseBody(req, res);
    if (!body) return;
    if (!body->contains("name") || !(*body)["name"].is_string()) return SendError(res, Invalid("name", "'name' must be a string"));
    auto created = collections_.Create((*body)["name"].get<std::string>());
    if (!created.ok()) return SendError(res, ErrorOf(created.status(), "name"));
    SendJson(res, 201, CollectionObject(*created.value()));
  }));
  http_->Delete(R"(/v1/collections/([^/]+))", guarded([this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (util::Status s = collections_.Remove(name); !s.ok()) return SendError(res, ErrorOf(s, "name"));
    SendJson(res, 200, {{"id", name}, {"object", "collection"}, {"deleted", true}});
  }));
  http_->Get(R"(/v1/collections/([^/]+)/documents)", guarded([this](const httplib::Request& req, httplib::Response& res) {
    const auto entry = collections_.Find(req.matches[1]);
    if (!entry) return SendError(res, ErrorOf(util::Status::NotFound("no collection '" + std::string(req.matches[1]) + "'"), "name"));
    std::shared_lock<std::shared_timed_mutex> reading(entry->mu, std::try_to_lock);
    if (!reading.owns_lock())
      return SendError(res, {409, "collection " + entry->name + " is being ingested; ask again when it is done", "invalid_request_error", "name"});
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
  http_->Post(R"(/v1/collections/([^/]+)/files)", guarded([this](const httplib::Request& req, httplib::Response& res) {
    IngestUpload(req, res, req.matches[1]);
  }));
}

void Server::IngestUpload(const httplib::Request& req, httplib::Response& res, const std::string& name) {
  const auto entry = collections_.Find(name);
  if (!entry) return SendError(res, ErrorOf(util::Status::NotFound("no collection '" + name + "' on this server"), "name"));
  if (!entry->removable)
    return SendError(res, {403, "collection " + name + " was given at start: add to it with kvfuse ingest", "permission_error", "name"});
  auto body = ParseBody(req, res);
  if (!body) return;
  auto read = ReadUploads(*body);
  if (auto* err = std::get_if<ApiError>(&read)) return SendError(res, *err);
  auto uploads = std::make_shared<std::vector<Upload>>(std::get<std::vector<Upload>>(std::move(read)));
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [this, entry, uploads](size_t, httplib::DataSink& sink) {
    // A client gone away stops nothing: the ingest goes on and is saved.
    auto send = [&](const json& event) { return SendEvent(sink, Dump(event)); };
    json last;
    {
      // Written and ingested under the collection's lock: its searches wait, and a deletion
      // either comes before (then nothing is written) or after.
      std::unique_lock<std::shared_timed_mutex> writing(entry->mu);
      auto paths = entry->removed ? util::Result<std::vector<std::string>>(util::Status::NotFound("the collection was deleted"))
                                  : SaveUploads(*uploads, entry->collection.dir());
      if (!paths.ok()) {
        last = ErrorBody({paths.status().code() == util::StatusCode::kNotFound ? 404 : 500, paths.status().message(),
                          "server_error", "name"});
      } else {
        rag::IngestHooks hooks = EngineIngestHooks(*engine_, options_.embed_layer, /*warm=*/true,
                                                   [this](const std::function<void()>& fn) { scheduler_->RunExclusive(fn); });
        hooks.progress = [&](std::string_view stage, size_t done, size_t total) {
          send({{"stage", stage}, {"done", done}, {"total", total}});
        };
        const rag::IngestReport report = entry->collection.Ingest(paths.value(), rag::ChunkOptions{}, hooks);
        last = {{"report", ReportObject(report, entry->collection.n_chunks())}};
        if (util::Status s = entry->collection.Save(); !s.ok()) last["error"] = {{"message", s.message()}};
      }
    }
    if (send(last)) SendEvent(sink, "[DONE]");
    sink.done();
    return true;
  });
}

}  // namespace kvfuse::server
