#include "store/kv_int8.h"

#include <cmath>
#include <cstring>

#include "tensor/half.h"

namespace kvfuse::store {

void QuantizeRowsInt8(const uint16_t* f16, size_t n_rows, size_t row_elements, uint8_t* out) {
  for (size_t r = 0; r < n_rows; ++r) {
    const uint16_t* row = f16 + r * row_elements;
    uint8_t* dst = out + r * Int8RowBytes(row_elements);
    // The scale comes from the finite elements; KV the model wrote has no others (an
    // infinity comes back as the row's largest magnitude, a NaN as 0).
    float max_abs = 0.0f;
    for (size_t i = 0; i < row_elements; ++i)
      if (const float x = tensor::Fp16ToFp32(row[i]); std::isfinite(x)) max_abs = std::fmax(max_abs, std::fabs(x));
    const float scale = max_abs / 127.0f;
    std::memcpy(dst, &scale, sizeof(scale));
    auto* q = reinterpret_cast<int8_t*>(dst + sizeof(scale));
    for (size_t i = 0; i < row_elements; ++i) {
      const float x = tensor::Fp16ToFp32(row[i]);
      const float steps = std::isnan(x) || scale == 0.0f ? 0.0f : std::fmin(127.0f, std::fmax(-127.0f, x / scale));
      q[i] = static_cast<int8_t>(std::lrint(steps));
    }
  }
}

void DequantizeRowsInt8(const uint8_t* in, size_t n_rows, size_t row_elements, uint16_t* f16) {
  for (size_t r = 0; r < n_rows; ++r) {
    const uint8_t* src = in + r * Int8RowBytes(row_elements);
    float scale;
    std::memcpy(&scale, src, sizeof(scale));
    // Damaged input must not become NaN or infinite KV: a scale within f16's range.
    if (!(scale >= 0.0f)) scale = 0.0f;
    scale = std::fmin(scale, 65504.0f / 127.0f);
    const auto* q = reinterpret_cast<const int8_t*>(src + sizeof(scale));
    uint16_t* row = f16 + r * row_elements;
    for (size_t i = 0; i < row_elements; ++i) row[i] = tensor::Fp32ToFp16(scale * q[i]);
  }
}

}  // namespace kvfuse::store
