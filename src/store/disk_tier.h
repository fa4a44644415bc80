// One file per chunk under a directory, in the layout of store/record_codec (a versioned,
// checksummed header, then the payload under its own checksum). Files are written to a
// temporary name, fsynced and renamed. A file that is short, corrupt, of another version
// or of another shape is reported as an error and never served.
#pragma once

#include <optional>
#include <string>

#include "store/chunk_record.h"
#include "util/status.h"

namespace kvfuse::store {

class DiskTier {
 public:
  // Creates the directory if needed, and removes the temporaries that writers killed
  // mid-write left there (util::RemoveStaleTemporaries), saying so on stderr.
  static util::Result<DiskTier> Open(const std::string& dir);

  util::Status Save(const ChunkRecord& record) const;
  // nullopt when there is no file; kCorrupt naming the file and the damage when it failed
  // its checks (it is then removed, so the chunk is recomputed and rewritten); kUnavailable
  // when it could not be read.
  util::Result<std::optional<ChunkRecord>> Load(uint64_t key, const ChunkShape& shape) const;
  bool Contains(uint64_t key) const;
  std::string PathOf(uint64_t key) const;
  const std::string& dir() const { return dir_; }

 private:
  explicit DiskTier(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace kvfuse::store
