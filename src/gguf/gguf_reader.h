// Reads GGUF v2/v3 files (llama.cpp's model format) through a memory mapping.
//
// Every count, string length, array size, tensor shape, offset, alignment and tensor
// byte size is checked against the file before it is used; a malformed file yields an
// error naming the file, the byte offset and the problem. Tensor data stays in the
// mapping: TensorInfo::data points into it and lives as long as the GgufFile.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf_value.h"
#include "tensor/dtype.h"
#include "util/mapped_file.h"
#include "util/status.h"

namespace kvfuse::gguf {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kDefaultAlignment = 32;
constexpr int kMaxDims = 4;

struct TensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // dims[0] is the row length (ggml's ne[0])
  tensor::DType type = tensor::DType::kF32;
  uint64_t offset = 0;        // from the start of the data section
  size_t n_bytes = 0;
  const uint8_t* data = nullptr;

  int64_t n_elements() const;
  int64_t n_rows() const { return dims.empty() ? 0 : n_elements() / dims[0]; }
};

class GgufFile {
 public:
  static util::Result<GgufFile> Open(const std::string& path);
  // Parses a file already in memory (tests, fuzzing); the bytes must outlive the result.
  static util::Result<GgufFile> Parse(const uint8_t* data, size_t size, const std::string& name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  // Copies the n bytes at p (inside the file, e.g. a tensor's row) into `out` without touching
  // the mapping's pages (util::MappedFile::Read: an error when the file ends early or cannot
  // be read); a file parsed from memory copies them. Thread-safe.
  [[nodiscard]] util::Status Read(const uint8_t* p, size_t n, void* out) const;
  // Hands every resident page of the mapping back to the kernel (a page read again is read
  // from the file again); nothing for a file parsed from memory. Thread-safe.
  void ReleasePages() const;

  // Removes every array-valued key (a vocabulary's tokens, merges, scores and types: ~10 MB
  // for 150,000 tokens) once they have been read; Find returns nullptr for them after. Not
  // thread-safe: call before the file is shared.
  void DropArrays();

  const Value* Find(const std::string& key) const;
  const TensorInfo* FindTensor(const std::string& name) const;

  // Typed getters: an error if the key is missing or of another kind.
  util::Result<std::string> GetString(const std::string& key) const;
  util::Result<int64_t> GetInt(const std::string& key) const;  // any integer type
  util::Result<double> GetFloat(const std::string& key) const; // f32/f64 (or integer)
  util::Result<bool> GetBool(const std::string& key) const;

  int64_t GetIntOr(const std::string& key, int64_t fallback) const;
  double GetFloatOr(const std::string& key, double fallback) const;
  bool GetBoolOr(const std::string& key, bool fallback) const;

 private:
  std::string path_;
  util::MappedFile mapping_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::map<std::string, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;

  friend class Parser;
};

}  // namespace kvfuse::gguf
