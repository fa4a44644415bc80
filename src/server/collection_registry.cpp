#include "server/collection_registry.h"

#include <cstdio>
#include <filesystem>

#include "util/atomic_file.h"

namespace kvfuse::server {

namespace fs = std::filesystem;

bool CollectionRegistry::ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

std::string CollectionRegistry::SafeName(const std::string& name) {
  std::string out;
  for (char c : name.substr(0, 64)) out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ? c : '_';
  if (!out.empty() && out[0] == '.') out[0] = '_';
  return out.empty() ? "_" : out;
}

bool CollectionRegistry::can_create() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !root_.empty();
}

util::Status CollectionRegistry::Insert(const std::string& name, const std::string& dir, bool removable) {
  auto c = rag::Collection::Open(dir);
  if (!c.ok()) return c.status();
  // Uploads killed before their rename, in a collection this server made: every file there is
  // one it saved, and none is named like a temporary (ReadUploads refuses such names).
  const std::string uploads = dir + "/" + kUploadFolder;
  std::error_code ec;
  if (removable && fs::is_directory(uploads, ec))
    util::RemoveStaleTemporariesAndSay(uploads, [](std::string_view) { return true; });
  if (!c->warning().empty()) std::fprintf(stderr, "kvfuse: %s: %s\n", dir.c_str(), c->warning().c_str());
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.count(name)) return util::Status::AlreadyExists("collection " + dir + ": another collection is named " + name);
  entries_.emplace(name, std::make_shared<CollectionEntry>(name, removable, std::move(c).value()));
  return util::Status::Ok();
}

util::Status CollectionRegistry::AddExisting(const std::string& dir) {
  // Named by its directory ("docs/" too); two of one name would shadow each other.
  fs::path path = fs::path(dir).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();
  const std::string name = path.filename().string();
  if (name.empty() || name == "." || name == "..") return util::Status::InvalidArgument("collection " + dir + ": cannot be named from its path");
  return Insert(name, dir, /*removable=*/false);
}

util::Status CollectionRegistry::UseRoot(const std::string& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return util::Status::Error("collections directory " + root + ": " + ec.message());
  {
    std::lock_guard<std::mutex> lock(mu_);
    root_ = root;
  }
  for (const auto& sub : fs::directory_iterator(root, ec)) {
    const std::string name = sub.path().filename().string();
    if (!sub.is_directory() || !ValidName(name)) continue;
    if (util::Status s = Insert(name, sub.path().string(), /*removable=*/true); !s.ok()) return s;
  }
  if (ec) return util::Status::Error("collections directory " + root + ": " + ec.message());
  return util::Status::Ok();
}

util::Result<std::shared_ptr<CollectionEntry>> CollectionRegistry::Create(const std::string& name) {
  std::string root;
  {
    std::lock_guard<std::mutex> lock(mu_);
    root = root_;
  }
  if (root.empty()) return util::Status::PermissionDenied("this server has no collections directory (kvfuse serve --collections-dir DIR)");
  if (!ValidName(name))
    return util::Status::InvalidArgument("a collection name is 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'");
  if (Find(name)) return util::Status::AlreadyExists("a collection named " + name + " exists");
  const fs::path dir = fs::path(root) / name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return util::Status::Error("cannot create " + dir.string() + ": " + ec.message());
  if (util::Status s = Insert(name, dir.string(), /*removable=*/true); !s.ok()) return s;  // a racing Create lost
  return Find(name);
}

util::Status CollectionRegistry::Remove(const std::string& name) {
  const std::shared_ptr<CollectionEntry> entry = Find(name);
  if (!entry) return util::Status::NotFound("no collection '" + name + "' on this server");
  if (!entry->removable) return util::Status::PermissionDenied("collection " + name + " was given at start; it is not deleted over HTTP");
  std::error_code ec;
  {
    // After its searches and ingest (waiting kIngestWait at most: the caller holds an HTTP
    // worker); the name stays taken until its directory is gone.
    std::unique_lock<std::shared_timed_mutex> writing(entry->mu, kIngestWait);
    if (!writing.owns_lock())
      return util::Status::Unavailable("collection " + name + " is in use (an ingest, or searches); delete it when that is done");
    if (entry->removed) return util::Status::NotFound("no collection '" + name + "' on this server");
    entry->removed = true;
    fs::remove_all(entry->collection.dir(), ec);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto it = entries_.find(name); it != entries_.end() && it->second == entry) entries_.erase(it);
  }
  if (ec) return util::Status::Error("collection " + name + " is forgotten but its files could not all be deleted: " + ec.message());
  return util::Status::Ok();
}

std::shared_ptr<CollectionEntry> CollectionRegistry::Find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<CollectionEntry>> CollectionRegistry::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<CollectionEntry>> out;
  for (const auto& [name, entry] : entries_) out.push_back(entry);
  return out;
}

}  // namespace kvfuse::server
