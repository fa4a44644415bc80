// Writes files atomically: data goes to a temporary file beside the target, which is
// fsynced and renamed over the target on Commit(), so a reader never sees a half-written
// file. A writer destroyed without Commit() removes its temporary file; one killed
// (SIGKILL, power loss) leaves it behind, for RemoveStaleTemporaries to clean up.
// The temporary is named <target>.tmp.<pid>.<counter>.
#pragma once

#include <chrono>
#include <functional>
#include <cstddef>
#include <string>
#include <string_view>

#include "util/status.h"

namespace kvfuse::util {

class AtomicFileWriter {
 public:
  static Result<AtomicFileWriter> Open(const std::string& path);

  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  Status Append(const void* data, size_t n_bytes);
  Status Append(std::string_view bytes) { return Append(bytes.data(), bytes.size()); }
  size_t bytes_written() const { return bytes_written_; }
  Status Commit();

 private:
  AtomicFileWriter(std::string path, std::string tmp_path, int fd)
      : path_(std::move(path)), tmp_path_(std::move(tmp_path)), fd_(fd) {}
  void Abandon();

  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  size_t bytes_written_ = 0;
};

Status WriteFileAtomically(const std::string& path, std::string_view contents);

// The pid in a file name of the exact form AtomicFileWriter gives its temporaries
// (<non-empty target>.tmp.<pid>.<counter>, decimal), else 0.
int TemporaryFileWriterPid(std::string_view file_name);

// Whether a target file name is one the directory's owner writes: only temporaries of such
// targets are ever removed (a directory may be shared with other programs).
using OwnsTarget = std::function<bool(std::string_view target_name)>;

// Removes the temporaries of `dir` (not of its subdirectories) whose target `owns` accepts
// and that no writer will commit: those of a process that no longer runs, and any older than
// max_age (a pid can be reused). Regular files only; other names are never touched. Returns
// how many it removed, or an error when the directory cannot be listed. Safe while processes
// of this pid namespace write there; a writer's temporary is also its own while its writes
// are younger than max_age.
Result<size_t> RemoveStaleTemporaries(const std::string& dir, const OwnsTarget& owns,
                                      std::chrono::seconds max_age = std::chrono::hours(1));
// The same, saying on stderr how many it removed (if any) or why it could not list `dir`.
void RemoveStaleTemporariesAndSay(const std::string& dir, const OwnsTarget& owns);

}  // namespace kvfuse::util
