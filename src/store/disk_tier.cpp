#include "store/disk_tier.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "store/record_codec.h"
#include "util/atomic_file.h"
#include "util/mapped_file.h"

namespace kvfuse::store {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

// The names PathOf gives: 16 lower-case hex digits and ".kvc".
bool IsChunkFileName(std::string_view name) {
  return name.size() == 20 && name.substr(16) == ".kvc" &&
         name.substr(0, 16).find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// The record in `file`. Its header is read first, without touching the mapping, and must
// declare the file's size, so that a corrupt or foreign file is refused before its pages are
// read in. Then the pages are populated: on a VM, a first read() of page-cache pages into this
// process cost ~4 ms per 3 MB where populating a mapping and copying from it cost ~1 ms. Files
// are only ever replaced by rename, so none shrinks under the mapping; one that another program
// truncates, or whose pages cannot be read, fails Populate rather than raising SIGBUS.
Result<ChunkRecord> DecodeFile(const util::MappedFile& file, uint64_t key, const ChunkShape& shape) {
  char header[kRecordHeaderBytes];
  const size_t n = std::min(file.size(), sizeof(header));
  if (n > 0) KVFUSE_RETURN_IF_ERROR(file.Read(file.data(), n, header));
  KVFUSE_RETURN_IF_ERROR(CheckDeclaredSize(std::string_view(header, n), file.size(), key, shape, file.path()));
  KVFUSE_RETURN_IF_ERROR(file.Populate());
  return DecodeRecord(std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), key, shape,
                      file.path());
}

}  // namespace

Result<DiskTier> DiskTier::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    return Status::Error(StrFormat("chunk store %s: cannot create directory (%s)", dir.c_str(),
                                   ec ? ec.message().c_str() : "not a directory"));
  util::RemoveStaleTemporariesAndSay(dir, IsChunkFileName);
  return DiskTier(dir);
}

std::string DiskTier::PathOf(uint64_t key) const {
  return dir_ + StrFormat("/%016llx.kvc", static_cast<unsigned long long>(key));
}

bool DiskTier::Contains(uint64_t key) const {
  struct stat st;
  return ::stat(PathOf(key).c_str(), &st) == 0;
}

Status DiskTier::Save(const ChunkRecord& r) const {
  auto writer = util::AtomicFileWriter::Open(PathOf(r.key));
  if (!writer.ok()) return writer.status();
  const std::string bytes = EncodeRecord(r);
  KVFUSE_RETURN_IF_ERROR(writer->Append(bytes.data(), bytes.size()));
  return writer->Commit();
}

Result<std::optional<ChunkRecord>> DiskTier::Load(uint64_t key, const ChunkShape& shape) const {
  const std::string path = PathOf(key);
  auto file = util::MappedFile::Open(path);
  if (!file.ok()) {
    if (file.status().code() == util::StatusCode::kNotFound) return std::optional<ChunkRecord>();
    return Status::Unavailable(file.status().message());
  }
  auto record = DecodeFile(*file, key, shape);
  if (record.ok()) return std::optional<ChunkRecord>(std::move(record).value());
  if (record.status().code() != util::StatusCode::kCorrupt) return record.status();
  if (std::remove(path.c_str()) != 0)
    return Status::Corrupt(record.status().message() + " (and it cannot be removed: " + std::strerror(errno) + ")");
  return record.status();
}

}  // namespace kvfuse::store
