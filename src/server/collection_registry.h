// The server's collections by name: those named at start (--collection DIR, each named by its
// directory) and those under the collections directory (--collections-dir ROOT: each
// subdirectory is one), where HTTP clients may also create, fill and delete collections.
// Each collection has a reader-writer lock: searches share it, an ingest holds it alone.
// Thread-safe: any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <chrono>
#include <shared_mutex>
#include <string>
#include <vector>

#include "rag/collection.h"
#include "util/status.h"

namespace kvfuse::server {

// How long a RAG request waits for an ingest of its collection to end before a 503: an ingest
// holds the collection for its whole length, and a waiting request holds an HTTP worker.
inline constexpr std::chrono::seconds kIngestWait{2};
// The folder of a collection's directory that uploads over HTTP are saved in.
inline constexpr const char* kUploadFolder = "files";

struct CollectionEntry {
  CollectionEntry(std::string n, bool r, rag::Collection c) : name(std::move(n)), removable(r), collection(std::move(c)) {}
  const std::string name;
  const bool removable;  // created under the collections directory: HTTP clients may delete it
  // shared: search (a chat waits kIngestWait for it, then is refused); unique: ingest, removal.
  std::shared_timed_mutex mu;
  bool removed = false;  // under mu: its directory is gone (an upload that waited must stop)
  rag::Collection collection;  // under mu
};

class CollectionRegistry {
 public:
  // A collection directory given at start; errors name it (damaged, a name taken twice).
  util::Status AddExisting(const std::string& dir);
  // Every collection under `root` (created if missing); new ones are made there from then on.
  util::Status UseRoot(const std::string& root);
  bool can_create() const;

  // A new, empty collection under the root: kInvalidArgument for a bad name, kAlreadyExists
  // for one in use, kPermissionDenied when the server has no collections directory.
  util::Result<std::shared_ptr<CollectionEntry>> Create(const std::string& name);
  // Deletes a collection made under the root: waits for its searches and ingest (kIngestWait at
  // most, then kUnavailable), deletes its directory, then forgets it (its name stays taken
  // until then). kNotFound, or kPermissionDenied for one given at start.
  util::Status Remove(const std::string& name);
  std::shared_ptr<CollectionEntry> Find(const std::string& name) const;
  std::vector<std::shared_ptr<CollectionEntry>> All() const;

  // Letters, digits, '.', '_' and '-', 1 to 64 of them, not starting with '.'.
  static bool ValidName(const std::string& name);
  // `name` made valid: other characters become '_', a leading '.' too, cut to 64.
  static std::string SafeName(const std::string& name);

 private:
  util::Status Insert(const std::string& name, const std::string& dir, bool removable);

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<CollectionEntry>> entries_;
  std::string root_;  // under mu_ (set while the model loads, read by HTTP threads)
};

}  // namespace kvfuse::server
