// Matrix multiplication of quantized weights with float activations.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernel_table.h"
#include "tensor/dtype.h"
#include "util/thread_pool.h"

namespace kvfuse::kernels {

// A weight matrix of n_rows rows of n_cols elements of `type`, rows contiguous.
struct WeightView {
  tensor::DType type = tensor::DType::kF32;
  int64_t n_cols = 0;  // row length (input features)
  int64_t n_rows = 0;  // output features
  const uint8_t* data = nullptr;
  // The same rows packed for `packed_for`'s packed products (KernelTable::PackedFor), or
  // nullptr; other tables read `data`.
  const uint8_t* packed = nullptr;
  const KernelTable* packed_for = nullptr;

  size_t row_bytes() const { return tensor::RowBytes(type, n_cols); }
  const uint8_t* row(int64_t r) const { return data + r * row_bytes(); }
};

// y[t, r] = sum_c x[t, c] * w[r, c]
//   x: [n_tokens, w.n_cols] f32, y: [n_tokens, w.n_rows] f32.
// `scratch` holds the activations converted to the weight's dot-product format.
void MatMul(const KernelTable& k, util::ThreadPool& pool, const WeightView& w, const float* x,
            int64_t n_tokens, float* y, std::vector<uint8_t>& scratch);

}  // namespace kvfuse::kernels
