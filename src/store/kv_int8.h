// 8-bit KV rows for the remote tier: each f16 row becomes a float32 scale (the row's largest
// magnitude / 127) and one int8 per element, rounded to nearest; a zero row has scale 0.
// Lossy: an element comes back within half a step (scale / 2) plus f16 rounding.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvfuse::store {

// Bytes of one quantised row of `row_elements` f16 values.
constexpr size_t Int8RowBytes(size_t row_elements) { return sizeof(float) + row_elements; }

// `n_rows` rows of `row_elements` f16 values from `f16` into `out` (Int8RowBytes each).
void QuantizeRowsInt8(const uint16_t* f16, size_t n_rows, size_t row_elements, uint8_t* out);
// The inverse: `n_rows` quantised rows back to f16.
void DequantizeRowsInt8(const uint8_t* in, size_t n_rows, size_t row_elements, uint16_t* f16);

}  // namespace kvfuse::store
