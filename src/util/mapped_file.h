// A read-only memory mapping of a whole file, and the file kept open for reads. Move-only;
// unmaps and closes on destruction. Read and ReleasePages may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "util/status.h"

namespace kvfuse::util {

class MappedFile {
 public:
  // A missing file is kNotFound; any other failure is kUnknown.
  static Result<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Gives the mapped pages wholly inside [p, p + n) back to the kernel (the memory stops
  // counting in this process's RSS); touched again, they are read from the file again. Only
  // for memory of a MappedFile: anonymous memory would read back as zeros.
  static void ReleasePages(const void* p, size_t n);
  // Every page of this mapping, its last (partly past the file's end) included.
  void ReleaseAllPages() const;
  // Reads every page of the mapping in now (what MAP_POPULATE does at mmap): for a file about
  // to be read whole, where faulting its pages in one by one costs more than the read itself.
  // Called after its first bytes (read with Read) were checked, a file is not read in whole
  // before it is known to be what the caller wants. A page that cannot be read (an I/O error,
  // the file truncated under the mapping) is an error here, not a SIGBUS at its first touch.
  Status Populate() const;

  // Copies the mapped bytes [p, p + n) into `out` by reading the file, so that no page of the
  // mapping is touched: a touched page can bring its whole page-cache folio (megabytes on
  // recent kernels) into this process's RSS, which scattered rows of a large table (token
  // embeddings) add up to the whole table. A file that ends early (truncated under the
  // mapping) or cannot be read is an error.
  [[nodiscard]] Status Read(const void* p, size_t n, void* out) const;

 private:
  void Reset();
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace kvfuse::util
