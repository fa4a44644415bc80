// Builds and writes GGUF v3 files (atomically: temporary file, fsync, rename).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gguf/gguf_value.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace kvfuse::gguf {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32) : alignment_(alignment) {}

  void Set(const std::string& key, Value value);
  // dims[0] is the row length; data holds RowBytes(type, dims[0]) * rows bytes.
  util::Status AddTensor(const std::string& name, tensor::DType type, std::vector<int64_t> dims,
                         std::vector<uint8_t> data);

  util::Status Write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    tensor::DType type;
    std::vector<int64_t> dims;
    std::vector<uint8_t> data;
  };
  uint32_t alignment_;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace kvfuse::gguf
