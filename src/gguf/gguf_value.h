// GGUF metadata values. Format reference: docs/formats/gguf.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvfuse::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5,
  kFloat32 = 6, kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

std::string_view ValueTypeName(ValueType type);
// Size in bytes of a fixed-size scalar type; 0 for string and array.
size_t ScalarSize(ValueType type);
bool IsIntegerType(ValueType type);
bool IsFloatType(ValueType type);

// One metadata value. Scalars use one of `integer`, `real`, `text`; arrays keep their
// element type and fill the matching vector (booleans and all integer types go to
// `integers`).
struct Value {
  ValueType type = ValueType::kUint32;
  ValueType element_type = ValueType::kUint8;  // arrays only

  int64_t integer = 0;  // all integer types and bool
  double real = 0;
  std::string text;

  std::vector<int64_t> integers;
  std::vector<double> reals;
  std::vector<std::string> texts;

  bool is_array() const { return type == ValueType::kArray; }
  size_t array_size() const;

  static Value Uint32(uint32_t v) { return Scalar(ValueType::kUint32, v); }
  static Value Int32(int32_t v) { return Scalar(ValueType::kInt32, v); }
  static Value Uint64(uint64_t v) { return Scalar(ValueType::kUint64, static_cast<int64_t>(v)); }
  static Value Bool(bool v) { return Scalar(ValueType::kBool, v ? 1 : 0); }
  static Value Float32(float v);
  static Value String(std::string v);
  static Value StringArray(std::vector<std::string> v);
  static Value Float32Array(std::vector<double> v);
  static Value Int32Array(std::vector<int64_t> v);

 private:
  static Value Scalar(ValueType type, int64_t v);
};

}  // namespace kvfuse::gguf
