#include "gguf/gguf_value.h"

namespace kvfuse::gguf {

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kUint8: return "u8";
    case ValueType::kInt8: return "i8";
    case ValueType::kUint16: return "u16";
    case ValueType::kInt16: return "i16";
    case ValueType::kUint32: return "u32";
    case ValueType::kInt32: return "i32";
    case ValueType::kFloat32: return "f32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "str";
    case ValueType::kArray: return "arr";
    case ValueType::kUint64: return "u64";
    case ValueType::kInt64: return "i64";
    case ValueType::kFloat64: return "f64";
  }
  return "?";
}

size_t ScalarSize(ValueType type) {
  switch (type) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    case ValueType::kString: case ValueType::kArray: return 0;
  }
  return 0;
}

bool IsIntegerType(ValueType type) {
  return ScalarSize(type) > 0 && !IsFloatType(type);
}

bool IsFloatType(ValueType type) {
  return type == ValueType::kFloat32 || type == ValueType::kFloat64;
}

size_t Value::array_size() const {
  if (!is_array()) return 0;
  if (element_type == ValueType::kString) return texts.size();
  if (IsFloatType(element_type)) return reals.size();
  return integers.size();
}

Value Value::Scalar(ValueType type, int64_t v) {
  Value value;
  value.type = type;
  value.integer = v;
  return value;
}

Value Value::Float32(float v) {
  Value value;
  value.type = ValueType::kFloat32;
  value.real = v;
  return value;
}

Value Value::String(std::string v) {
  Value value;
  value.type = ValueType::kString;
  value.text = std::move(v);
  return value;
}

Value Value::StringArray(std::vector<std::string> v) {
  Value value;
  value.type = ValueType::kArray;
  value.element_type = ValueType::kString;
  value.texts = std::move(v);
  return value;
}

Value Value::Float32Array(std::vector<double> v) {
  Value value;
  value.type = ValueType::kArray;
  value.element_type = ValueType::kFloat32;
  value.reals = std::move(v);
  return value;
}

Value Value::Int32Array(std::vector<int64_t> v) {
  Value value;
  value.type = ValueType::kArray;
  value.element_type = ValueType::kInt32;
  value.integers = std::move(v);
  return value;
}

}  // namespace kvfuse::gguf
