// Scalar reference (de)quantisation for every supported tensor type.
//
// Row lengths n must be multiples of the type's block size. Quantisation of weights is
// a simple max-abs / min-max scheme (valid blocks, not llama.cpp's error-minimising
// search); quantisation of activations to Q8_0/Q8_K matches ggml's reference exactly.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace kvfuse::kernels {

// dst: n floats; src: one row of `type`.
void DequantizeRow(tensor::DType type, const void* src, float* dst, int64_t n);
// dst: RowBytes(type, n) bytes.
void QuantizeRow(tensor::DType type, const float* src, void* dst, int64_t n);

// The activation format a weight type's dot product consumes: Q8_0 for the 32-blocks,
// Q8_K for the K-quants, F32 for float weights.
tensor::DType VecDotType(tensor::DType weight_type);

// Round half to even, as ggml's nearest_int and AVX's _mm256_round_ps do.
int NearestInt(float x);

}  // namespace kvfuse::kernels
