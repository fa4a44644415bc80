#include "tensor/dtype.h"

#include "tensor/quant_blocks.h"
#include "util/status.h"

namespace kvfuse::tensor {

namespace {

constexpr DTypeInfo kInfos[] = {
    {DType::kF32, "f32", 1, 4},
    {DType::kF16, "f16", 1, 2},
    {DType::kBF16, "bf16", 1, 2},
    {DType::kQ4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0)},
    {DType::kQ5_0, "q5_0", kQK5_0, sizeof(BlockQ5_0)},
    {DType::kQ8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0)},
    {DType::kQ4_K, "q4_k", kQK_K, sizeof(BlockQ4_K)},
    {DType::kQ5_K, "q5_k", kQK_K, sizeof(BlockQ5_K)},
    {DType::kQ6_K, "q6_k", kQK_K, sizeof(BlockQ6_K)},
    {DType::kQ8_K, "q8_k", kQK_K, sizeof(BlockQ8_K)},
};

}  // namespace

std::optional<DTypeInfo> LookupDType(uint32_t id) {
  for (const DTypeInfo& info : kInfos)
    if (static_cast<uint32_t>(info.type) == id) return info;
  return std::nullopt;
}

const DTypeInfo& Info(DType type) {
  for (const DTypeInfo& info : kInfos)
    if (info.type == type) return info;
  KVFUSE_CHECK(false && "unknown DType");
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const DTypeInfo& info : kInfos)
    if (info.name == name) return info.type;
  return std::nullopt;
}

}  // namespace kvfuse::tensor
