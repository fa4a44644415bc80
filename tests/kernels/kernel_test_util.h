#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/quantize.h"
#include "tensor/dtype.h"

namespace kvfuse::kernels::testing {

inline std::vector<float> RandomFloats(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<uint8_t> Quantize(tensor::DType type, const std::vector<float>& x) {
  std::vector<uint8_t> q(tensor::RowBytes(type, static_cast<int64_t>(x.size())));
  QuantizeRow(type, x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

inline std::vector<float> Dequantize(tensor::DType type, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> x(n);
  DequantizeRow(type, q.data(), x.data(), n);
  return x;
}

// The ISA tables to check against the reference: every one this CPU supports.
inline std::vector<const KernelTable*> IsaTables() {
  std::vector<const KernelTable*> tables;
  if (Avx2Kernels()) tables.push_back(Avx2Kernels());
  if (Avx512Kernels()) tables.push_back(Avx512Kernels());
  return tables;
}

constexpr tensor::DType kWeightTypes[] = {
    tensor::DType::kF32,  tensor::DType::kF16,  tensor::DType::kBF16,
    tensor::DType::kQ4_0, tensor::DType::kQ5_0, tensor::DType::kQ8_0,
    tensor::DType::kQ4_K, tensor::DType::kQ5_K, tensor::DType::kQ6_K,
};

}  // namespace kvfuse::kernels::testing
