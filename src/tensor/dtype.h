// Tensor element types: the GGUF/ggml type ids and their block geometry.
//
// A quantized row of n elements is n / block_size blocks of type_size bytes each.
// Values of DType are the ids stored in GGUF files, so they must never change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kvfuse::tensor {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ5_0 = 6,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,  // activations only (the partner of K-quant dot products)
  kBF16 = 30,
};

struct DTypeInfo {
  DType type;
  std::string_view name;
  int64_t block_size;  // elements per block
  size_t type_size;    // bytes per block
};

// Returns nullopt for ids that are valid in ggml but not supported here.
std::optional<DTypeInfo> LookupDType(uint32_t id);
const DTypeInfo& Info(DType type);
std::optional<DType> DTypeFromName(std::string_view name);  // "q8_0", "f16", ...

// Bytes of a row of n_elements; n_elements must be a multiple of the block size.
inline size_t RowBytes(DType type, int64_t n_elements) {
  const DTypeInfo& info = Info(type);
  return static_cast<size_t>(n_elements / info.block_size) * info.type_size;
}

}  // namespace kvfuse::tensor
