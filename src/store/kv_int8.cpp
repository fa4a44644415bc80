#include "store/kv_int8.h"

#include <cmath>
#include <cstring>

#include "tensor/half.h"

namespace kvfuse::store {

void QuantizeRowsInt8(const uint16_t* f16, size_t n_rows, size_t row_elements, uint8_t* out) {
  for (size_t r = 0; r < n_rows; ++r) {
    const uint16_t* row = f16 + r * row_elements;
    uint8_t* dst = out + r * Int8RowBytes(row_elements);
    float max_abs = 0.0f;
    for (size_t i = 0; i < row_elements; ++i) max_abs = std::fmax(max_abs, std::fabs(tensor::Fp16ToFp32(row[i])));
    // A non-finite element would poison the row's scale; KV the model wrote has none.
    const float scale = std::isfinite(max_abs) ? max_abs / 127.0f : 0.0f;
    std::memcpy(dst, &scale, sizeof(scale));
    auto* q = reinterpret_cast<int8_t*>(dst + sizeof(scale));
    for (size_t i = 0; i < row_elements; ++i) {
      const float x = scale > 0.0f ? tensor::Fp16ToFp32(row[i]) / scale : 0.0f;
      q[i] = static_cast<int8_t>(std::lrint(std::fmin(127.0f, std::fmax(-127.0f, x))));
    }
  }
}

void DequantizeRowsInt8(const uint8_t* in, size_t n_rows, size_t row_elements, uint16_t* f16) {
  for (size_t r = 0; r < n_rows; ++r) {
    const uint8_t* src = in + r * Int8RowBytes(row_elements);
    float scale;
    std::memcpy(&scale, src, sizeof(scale));
    if (!std::isfinite(scale)) scale = 0.0f;  // damaged input must not become NaN KV
    const auto* q = reinterpret_cast<const int8_t*>(src + sizeof(scale));
    uint16_t* row = f16 + r * row_elements;
    for (size_t i = 0; i < row_elements; ++i) row[i] = tensor::Fp32ToFp16(scale * q[i]);
  }
}

}  // namespace kvfuse::store
