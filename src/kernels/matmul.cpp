#include "kernels/matmul.h"

#include <algorithm>

#include "kernels/quantize.h"

namespace kvfuse::kernels {

using tensor::DType;

void MatMul(const KernelTable& k, util::ThreadPool& pool, const WeightView& w, const float* x,
            int64_t n_tokens, float* y, std::vector<uint8_t>& scratch) {
  const DType act_type = VecDotType(w.type);
  const int64_t n_cols = w.n_cols;
  const void* act = x;
  size_t act_row_bytes = n_cols * sizeof(float);
  if (act_type != DType::kF32) {
    act_row_bytes = tensor::RowBytes(act_type, n_cols);
    scratch.resize(act_row_bytes * n_tokens);
    const QuantizeFn quantize = act_type == DType::kQ8_0 ? k.quantize_q8_0 : k.quantize_q8_k;
    uint8_t* dst = scratch.data();
    pool.ParallelFor(n_tokens, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) quantize(x + t * n_cols, dst + t * act_row_bytes, n_cols);
    });
    act = dst;
  }
  const uint8_t* act_bytes = static_cast<const uint8_t*>(act);
  const int64_t n_rows = w.n_rows;
  // Rows are split between threads; within a thread a small group of rows is applied
  // to every token so the group stays in cache while the activations stream past. A
  // table's GEMM column equals its dot bit for bit, so which one runs is a matter of speed
  // alone: one token takes the K-quant GEMMs (they decode each row once, then apply it;
  // 1.1x the AVX2 dots' decode speed) but the 32-block types' dots (the AVX2 4 x 1 tiles
  // were 6% slower).
  constexpr int64_t kRowGroup = 16;
  static_assert(kRowGroup % kPackedRowGroup == 0);
  if (const PackedKernels packed = k.PackedFor(w.type); packed.gemm && w.packed && w.packed_for == &k) {
    pool.ParallelFor(n_rows, [&](int64_t r0, int64_t r1) {
      packed.gemm(n_cols, w.packed, r0, r1, act_bytes, act_row_bytes, n_tokens, y, n_rows);
    }, kRowGroup);
    return;
  }
  const bool one_token_gemm = tensor::Info(w.type).block_size == 256;
  if (const GemmFn gemm = k.GemmFor(w.type); gemm != nullptr && (n_tokens > 1 || one_token_gemm)) {
    pool.ParallelFor(n_rows, [&](int64_t r0, int64_t r1) {
      for (int64_t rg = r0; rg < r1; rg += kRowGroup) {
        const int64_t rows = std::min(r1, rg + kRowGroup) - rg;
        gemm(n_cols, w.row(rg), w.row_bytes(), rows, act_bytes, act_row_bytes, n_tokens, y + rg, n_rows);
      }
    }, kRowGroup);
    return;
  }
  const DotFn dot = k.DotFor(w.type);
  pool.ParallelFor(n_rows, [&](int64_t r0, int64_t r1) {
    for (int64_t rg = r0; rg < r1; rg += kRowGroup) {
      const int64_t rg_end = std::min(r1, rg + kRowGroup);
      for (int64_t t = 0; t < n_tokens; ++t) {
        const uint8_t* a = act_bytes + t * act_row_bytes;
        float* out = y + t * n_rows;
        for (int64_t r = rg; r < rg_end; ++r) out[r] = dot(n_cols, w.row(r), a);
      }
    }
  }, kRowGroup);
}

}  // namespace kvfuse::kernels
