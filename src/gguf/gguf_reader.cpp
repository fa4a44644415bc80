#include "gguf/gguf_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace kvfuse::gguf {

using util::Result;
using util::Status;
using util::StrFormat;

// The most elements an array or the tensor table reserves before any is read.
constexpr uint64_t kMaxReservedElements = uint64_t{1} << 20;
// More elements than any model's array (vocabularies hold under a million tokens and merges):
// a count past it is damage, refused before a numeric array holds 8 bytes per element.
constexpr uint64_t kMaxArrayElements = uint64_t{1} << 26;

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// A cursor over the file bytes; every read is bounds-checked.
class Parser {
 public:
  Parser(const uint8_t* data, size_t size, const std::string& name)
      : data_(data), size_(size), name_(name) {}

  Status Parse(GgufFile& file);

 private:
  Status Fail(const std::string& what) const {
    return Status::Error(StrFormat("%s: invalid GGUF at byte %zu: ", name_.c_str(), pos_) + what);
  }
  size_t remaining() const { return size_ - pos_; }

  template <typename T>
  Status Read(T& out, const char* what) {
    if (remaining() < sizeof(T)) return Fail(StrFormat("file ends while reading %s", what));
    std::memcpy(&out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  Status ReadString(std::string& out, const char* what);
  Status ReadValue(ValueType type, Value& out, bool in_array);
  Status ReadArray(Value& out);
  Status ReadTensorInfo(TensorInfo& info);

  const uint8_t* data_;
  size_t size_;
  std::string name_;
  size_t pos_ = 0;
};

Status Parser::ReadString(std::string& out, const char* what) {
  uint64_t len = 0;
  KVFUSE_RETURN_IF_ERROR(Read(len, what));
  if (len > remaining())
    return Fail(StrFormat("%s has length %llu but only %zu bytes remain", what,
                          static_cast<unsigned long long>(len), remaining()));
  out.assign(reinterpret_cast<const char*>(data_ + pos_), len);
  pos_ += len;
  return Status::Ok();
}

Status Parser::ReadValue(ValueType type, Value& out, bool in_array) {
  switch (type) {
    case ValueType::kUint8: { uint8_t v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "u8")); out.integer = v; break; }
    case ValueType::kInt8: { int8_t v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "i8")); out.integer = v; break; }
    case ValueType::kUint16: { uint16_t v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "u16")); out.integer = v; break; }
    case ValueType::kInt16: { int16_t v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "i16")); out.integer = v; break; }
    case ValueType::kUint32: { uint32_t v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "u32")); out.integer = v; break; }
    case ValueType::kInt32: { int32_t v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "i32")); out.integer = v; break; }
    case ValueType::kUint64: {
      uint64_t v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "u64"));
      out.integer = static_cast<int64_t>(v);
      break;
    }
    case ValueType::kInt64: { int64_t v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "i64")); out.integer = v; break; }
    case ValueType::kFloat32: { float v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "f32")); out.real = v; break; }
    case ValueType::kFloat64: { double v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "f64")); out.real = v; break; }
    case ValueType::kBool: {
      uint8_t v = 0; KVFUSE_RETURN_IF_ERROR(Read(v, "bool"));
      if (v > 1) return Fail(StrFormat("bool value %u is neither 0 nor 1", v));
      out.integer = v;
      break;
    }
    case ValueType::kString: KVFUSE_RETURN_IF_ERROR(ReadString(out.text, "string value")); break;
    case ValueType::kArray:
      if (in_array) return Fail("nested arrays are not supported");
      return ReadArray(out);
    default:
      return Fail(StrFormat("unknown metadata value type %u", static_cast<uint32_t>(type)));
  }
  out.type = type;
  return Status::Ok();
}

Status Parser::ReadArray(Value& out) {
  uint32_t raw_type = 0;
  uint64_t count = 0;
  KVFUSE_RETURN_IF_ERROR(Read(raw_type, "array element type"));
  KVFUSE_RETURN_IF_ERROR(Read(count, "array length"));
  const auto elem = static_cast<ValueType>(raw_type);
  if (raw_type > static_cast<uint32_t>(ValueType::kFloat64))
    return Fail(StrFormat("unknown array element type %u", raw_type));
  if (elem == ValueType::kArray) return Fail("nested arrays are not supported");
  // A string needs at least its 8-byte length; a scalar its own size.
  const size_t min_size = elem == ValueType::kString ? 8 : ScalarSize(elem);
  if (count > remaining() / min_size)
    return Fail(StrFormat("array of %llu elements cannot fit in the %zu bytes that remain",
                          static_cast<unsigned long long>(count), remaining()));
  if (count > kMaxArrayElements)
    return Fail(StrFormat("array of %llu elements is longer than any model's (at most %llu): damaged?",
                          static_cast<unsigned long long>(count), static_cast<unsigned long long>(kMaxArrayElements)));
  out.type = ValueType::kArray;
  out.element_type = elem;
  // Grown as elements are read, not sized by the count: a damaged count that the bytes left
  // allow could still ask for 8x the file in memory (a u8 is held as 8 bytes).
  const size_t expected = static_cast<size_t>(std::min<uint64_t>(count, kMaxReservedElements));
  Value item;
  if (elem == ValueType::kString) {
    out.texts.reserve(expected);
    for (uint64_t i = 0; i < count; ++i) {
      KVFUSE_RETURN_IF_ERROR(ReadString(out.texts.emplace_back(), "array string"));
    }
  } else if (IsFloatType(elem)) {
    out.reals.reserve(expected);
    for (uint64_t i = 0; i < count; ++i) {
      KVFUSE_RETURN_IF_ERROR(ReadValue(elem, item, true));
      out.reals.push_back(item.real);
    }
  } else {
    out.integers.reserve(expected);
    for (uint64_t i = 0; i < count; ++i) {
      KVFUSE_RETURN_IF_ERROR(ReadValue(elem, item, true));
      out.integers.push_back(item.integer);
    }
  }
  return Status::Ok();
}

Status Parser::ReadTensorInfo(TensorInfo& info) {
  KVFUSE_RETURN_IF_ERROR(ReadString(info.name, "tensor name"));
  uint32_t n_dims = 0;
  KVFUSE_RETURN_IF_ERROR(Read(n_dims, "tensor dimension count"));
  if (n_dims == 0 || n_dims > kMaxDims)
    return Fail(StrFormat("tensor '%s' has %u dimensions (1..%d allowed)", info.name.c_str(),
                          n_dims, kMaxDims));
  info.dims.resize(n_dims);
  int64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t ne = 0;
    KVFUSE_RETURN_IF_ERROR(Read(ne, "tensor dimension"));
    if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        static_cast<int64_t>(ne) > std::numeric_limits<int64_t>::max() / n_elements)
      return Fail(StrFormat("tensor '%s' has an invalid or overflowing dimension %llu",
                            info.name.c_str(), static_cast<unsigned long long>(ne)));
    info.dims[d] = static_cast<int64_t>(ne);
    n_elements *= info.dims[d];
  }
  uint32_t raw_type = 0;
  KVFUSE_RETURN_IF_ERROR(Read(raw_type, "tensor type"));
  const auto dtype = tensor::LookupDType(raw_type);
  if (!dtype || dtype->type == tensor::DType::kQ8_K)
    return Fail(StrFormat("tensor '%s' has unsupported type id %u", info.name.c_str(), raw_type));
  if (info.dims[0] % dtype->block_size != 0)
    return Fail(StrFormat("tensor '%s' row length %lld is not a multiple of the %s block size %lld",
                          info.name.c_str(), static_cast<long long>(info.dims[0]),
                          std::string(dtype->name).c_str(),
                          static_cast<long long>(dtype->block_size)));
  info.type = dtype->type;
  const uint64_t n_blocks = static_cast<uint64_t>(n_elements / dtype->block_size);
  if (n_blocks > size_ / dtype->type_size)
    return Fail(StrFormat("tensor '%s' needs more bytes than the file has", info.name.c_str()));
  info.n_bytes = n_blocks * dtype->type_size;
  KVFUSE_RETURN_IF_ERROR(Read(info.offset, "tensor offset"));
  return Status::Ok();
}

Status Parser::Parse(GgufFile& file) {
  uint32_t magic = 0;
  KVFUSE_RETURN_IF_ERROR(Read(magic, "magic"));
  if (magic != kGgufMagic) return Fail("not a GGUF file (bad magic)");
  KVFUSE_RETURN_IF_ERROR(Read(file.version_, "version"));
  if (file.version_ != 2 && file.version_ != 3)
    return Fail(StrFormat("unsupported GGUF version %u (2 and 3 are supported)", file.version_));
  uint64_t n_tensors = 0, n_kv = 0;
  KVFUSE_RETURN_IF_ERROR(Read(n_tensors, "tensor count"));
  KVFUSE_RETURN_IF_ERROR(Read(n_kv, "metadata count"));
  // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor
  // info at least 8 + 4 + 8 + 4 + 8.
  if (n_kv > remaining() / 13) return Fail(StrFormat("metadata count %llu is impossible for the file size", static_cast<unsigned long long>(n_kv)));
  if (n_tensors > remaining() / 32) return Fail(StrFormat("tensor count %llu is impossible for the file size", static_cast<unsigned long long>(n_tensors)));

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    KVFUSE_RETURN_IF_ERROR(ReadString(key, "metadata key"));
    uint32_t raw_type = 0;
    KVFUSE_RETURN_IF_ERROR(Read(raw_type, "metadata value type"));
    Value value;
    KVFUSE_RETURN_IF_ERROR(ReadValue(static_cast<ValueType>(raw_type), value, false)
                               .WithContext("key '" + key + "'"));
    if (file.metadata_index_.count(key)) return Fail("duplicate metadata key '" + key + "'");
    file.metadata_index_[key] = file.metadata_.size();
    file.metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const Value* align = file.Find("general.alignment")) {
    if (!IsIntegerType(align->type) || align->integer <= 0 || align->integer > (1 << 20) ||
        (align->integer & (align->integer - 1)) != 0)
      return Fail("general.alignment must be a power of two up to 1 MiB");
    file.alignment_ = static_cast<uint32_t>(align->integer);
  }

  file.tensors_.reserve(static_cast<size_t>(std::min<uint64_t>(n_tensors, kMaxReservedElements)));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo& info = file.tensors_.emplace_back();
    KVFUSE_RETURN_IF_ERROR(ReadTensorInfo(info));
    if (file.tensor_index_.count(info.name)) return Fail("duplicate tensor name '" + info.name + "'");
    file.tensor_index_[info.name] = i;
  }

  const size_t data_start = (pos_ + file.alignment_ - 1) / file.alignment_ * file.alignment_;
  if (n_tensors > 0 && data_start > size_) return Fail("file ends before the tensor data section");
  const size_t data_size = n_tensors > 0 ? size_ - data_start : 0;
  for (TensorInfo& info : file.tensors_) {
    if (info.offset % file.alignment_ != 0)
      return Status::Error(StrFormat("%s: tensor '%s' offset %llu is not a multiple of the alignment %u",
                                     name_.c_str(), info.name.c_str(),
                                     static_cast<unsigned long long>(info.offset), file.alignment_));
    if (info.offset > data_size || info.n_bytes > data_size - info.offset)
      return Status::Error(StrFormat("%s: tensor '%s' (offset %llu, %zu bytes) lies outside the %zu-byte data section (file truncated?)",
                                     name_.c_str(), info.name.c_str(),
                                     static_cast<unsigned long long>(info.offset), info.n_bytes, data_size));
    info.data = data_ + data_start + info.offset;
  }
  return Status::Ok();
}

Result<GgufFile> GgufFile::Parse(const uint8_t* data, size_t size, const std::string& name) {
  GgufFile file;
  file.path_ = name;
  Parser parser(data, size, name);
  Status st = parser.Parse(file);
  if (!st.ok()) return st;
  return file;
}

Result<GgufFile> GgufFile::Open(const std::string& path) {
  Result<util::MappedFile> mapping = util::MappedFile::Open(path);
  if (!mapping.ok()) return mapping.status();
  Result<GgufFile> file = Parse(mapping->data(), mapping->size(), path);
  if (!file.ok()) return file.status();
  file->mapping_ = std::move(mapping).value();  // the mapping's address does not change
  return file;
}

Status GgufFile::Read(const uint8_t* p, size_t n, void* out) const {
  if (mapping_.data() != nullptr) return mapping_.Read(p, n, out);
  std::memcpy(out, p, n);
  return Status::Ok();
}

void GgufFile::ReleasePages() const {
  mapping_.ReleaseAllPages();
}

void GgufFile::DropArrays() {
  std::erase_if(metadata_, [](const auto& entry) { return entry.second.is_array(); });
  metadata_.shrink_to_fit();
  metadata_index_.clear();
  for (size_t i = 0; i < metadata_.size(); ++i) metadata_index_[metadata_[i].first] = i;
}

const Value* GgufFile::Find(const std::string& key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* GgufFile::FindTensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<std::string> GgufFile::GetString(const std::string& key) const {
  const Value* v = Find(key);
  if (!v) return Status::Error(path_ + ": missing metadata key '" + key + "'");
  if (v->type != ValueType::kString) return Status::Error(path_ + ": metadata key '" + key + "' is not a string");
  return v->text;
}

Result<int64_t> GgufFile::GetInt(const std::string& key) const {
  const Value* v = Find(key);
  if (!v) return Status::Error(path_ + ": missing metadata key '" + key + "'");
  if (!IsIntegerType(v->type)) return Status::Error(path_ + ": metadata key '" + key + "' is not an integer");
  return v->integer;
}

Result<double> GgufFile::GetFloat(const std::string& key) const {
  const Value* v = Find(key);
  if (!v) return Status::Error(path_ + ": missing metadata key '" + key + "'");
  if (IsFloatType(v->type)) return v->real;
  if (IsIntegerType(v->type)) return static_cast<double>(v->integer);
  return Status::Error(path_ + ": metadata key '" + key + "' is not a number");
}

Result<bool> GgufFile::GetBool(const std::string& key) const {
  const Value* v = Find(key);
  if (!v) return Status::Error(path_ + ": missing metadata key '" + key + "'");
  if (v->type != ValueType::kBool) return Status::Error(path_ + ": metadata key '" + key + "' is not a bool");
  return v->integer != 0;
}

int64_t GgufFile::GetIntOr(const std::string& key, int64_t fallback) const {
  auto r = GetInt(key);
  return r.ok() ? r.value() : fallback;
}

double GgufFile::GetFloatOr(const std::string& key, double fallback) const {
  auto r = GetFloat(key);
  return r.ok() ? r.value() : fallback;
}

bool GgufFile::GetBoolOr(const std::string& key, bool fallback) const {
  auto r = GetBool(key);
  return r.ok() ? r.value() : fallback;
}

}  // namespace kvfuse::gguf
