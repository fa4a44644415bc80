#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/kernel_table.h"
#include "kernels/ref/ref_kernels.h"
#include "util/cpu_features.h"
#include "util/status.h"

namespace kvfuse::kernels {

using tensor::DType;

DotFn KernelTable::DotFor(DType weight_type) const {
  switch (weight_type) {
    case DType::kF32: return dot_f32;
    case DType::kF16: return dot_f16;
    case DType::kBF16: return dot_bf16;
    case DType::kQ4_0: return dot_q4_0;
    case DType::kQ5_0: return dot_q5_0;
    case DType::kQ8_0: return dot_q8_0;
    case DType::kQ4_K: return dot_q4_k;
    case DType::kQ5_K: return dot_q5_k;
    case DType::kQ6_K: return dot_q6_k;
    case DType::kQ8_K: break;
  }
  KVFUSE_CHECK(false && "no dot product for this weight type");
}

GemmFn KernelTable::GemmFor(DType weight_type) const {
  switch (weight_type) {
    case DType::kQ4_0: return gemm_q4_0;
    case DType::kQ5_0: return gemm_q5_0;
    case DType::kQ8_0: return gemm_q8_0;
    case DType::kQ4_K: return gemm_q4_k;
    case DType::kQ5_K: return gemm_q5_k;
    case DType::kQ6_K: return gemm_q6_k;
    default: return nullptr;
  }
}

PackedKernels KernelTable::PackedFor(DType weight_type) const {
  switch (weight_type) {
    case DType::kF16: return packed_f16;
    case DType::kQ4_0: return packed_q4_0;
    case DType::kQ5_0: return packed_q5_0;
    case DType::kQ8_0: return packed_q8_0;
    case DType::kQ4_K: return packed_q4_k;
    case DType::kQ6_K: return packed_q6_k;
    default: return {};
  }
}

const KernelTable& RefKernels() {
  static const KernelTable table = {
      "scalar",
      ref::DotF32, ref::DotF16, ref::DotBF16,
      ref::DotQ4_0, ref::DotQ5_0, ref::DotQ8_0,
      ref::DotQ4_K, ref::DotQ5_K, ref::DotQ6_K,
      ref::QuantizeQ8_0, ref::QuantizeQ8_K,
      nullptr, nullptr, nullptr,
      nullptr, nullptr, nullptr,
      ref::F32ToF16, ref::ExpF32,
      ref::TransposeKeys, ref::DotKeys, ref::WeightedSum, ref::SoftmaxTile, ref::GatherF16Rows,
  };
  return table;
}

const KernelTable* Avx2Kernels() {
  static const KernelTable table = {
      "avx2",
      avx2::DotF32, avx2::DotF16, avx2::DotBF16,
      avx2::DotQ4_0, avx2::DotQ5_0, avx2::DotQ8_0,
      avx2::DotQ4_K, avx2::DotQ5_K, avx2::DotQ6_K,
      avx2::QuantizeQ8_0, ref::QuantizeQ8_K,
      avx2::GemmQ4_0, avx2::GemmQ5_0, avx2::GemmQ8_0,
      avx2::GemmQ4_K, avx2::GemmQ5_K, avx2::GemmQ6_K,
      avx2::F32ToF16, avx2::ExpF32,
      avx2::TransposeKeys, avx2::DotKeys, avx2::WeightedSum, avx2::SoftmaxTile, avx2::GatherF16Rows,
  };
  return util::DetectCpuFeatures().avx2 ? &table : nullptr;
}

const KernelTable* Avx512Kernels() {
  const util::CpuFeatures& cpu = util::DetectCpuFeatures();
  if (!cpu.avx2 || !cpu.avx512f || !cpu.avx512bw || !cpu.avx512vl || !cpu.avx512vnni) return nullptr;
  static const KernelTable table = [] {
    KernelTable t = *Avx2Kernels();
    t.name = "avx512";
    t.dot_q4_0 = avx512::DotQ4_0;
    t.dot_q5_0 = avx512::DotQ5_0;
    t.dot_q8_0 = avx512::DotQ8_0;
    t.gemm_q4_0 = avx512::GemmQ4_0;
    t.gemm_q5_0 = avx512::GemmQ5_0;
    t.gemm_q8_0 = avx512::GemmQ8_0;
    t.dot_f16 = avx512::DotF16;
    t.transpose_keys = avx512::TransposeKeys;
    t.dot_keys = avx512::DotKeys;
    t.weighted_sum = avx512::WeightedSum;
    t.softmax_tile = avx512::SoftmaxTile;
    t.packed_f16 = {avx512::PackedBytesF16, avx512::PackF16, avx512::PackedGemmF16};
    t.packed_q8_0 = {avx512::PackedBytesQ8_0, avx512::PackQ8_0, avx512::PackedGemmQ8_0};
    t.packed_q5_0 = {avx512::PackedBytesQ5_0, avx512::PackQ5_0, avx512::PackedGemmQ5_0};
    t.packed_q4_0 = {avx512::PackedBytesQ4_0, avx512::PackQ4_0, avx512::PackedGemmQ4_0};
    t.packed_q4_k = {avx512::PackedBytesQ4_K, avx512::PackQ4_K, avx512::PackedGemmQ4_K};
    t.packed_q6_k = {avx512::PackedBytesQ6_K, avx512::PackQ6_K, avx512::PackedGemmQ6_K};
    t.dot_q4_k = avx512::DotQ4_K;
    t.dot_q5_k = avx512::DotQ5_K;
    t.dot_q6_k = avx512::DotQ6_K;
    t.gemm_q4_k = avx512::GemmQ4_K;
    t.gemm_q5_k = avx512::GemmQ5_K;
    t.gemm_q6_k = avx512::GemmQ6_K;
    return t;
  }();
  return &table;
}

const KernelTable* KernelsNamed(std::string_view name) {
  if (name == "ref") return &RefKernels();
  if (name == "avx2") return Avx2Kernels();
  if (name == "avx512") return Avx512Kernels();
  return nullptr;
}

const KernelTable& BestKernels() {
  static const KernelTable& best = Avx512Kernels() ? *Avx512Kernels()
                                   : Avx2Kernels() ? *Avx2Kernels()
                                                   : RefKernels();
  return best;
}

}  // namespace kvfuse::kernels
