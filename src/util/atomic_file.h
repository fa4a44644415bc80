// Writes files atomically: data goes to a temporary file beside the target, which is
// fsynced and renamed over the target on Commit(), so a reader never sees a half-written
// file. A writer destroyed without Commit() removes its temporary file.
#pragma once

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

}  // namespace kvfuse::util
