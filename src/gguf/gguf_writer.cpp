#include "gguf/gguf_writer.h"

#include <cstring>

#include "gguf/gguf_reader.h"
#include "util/atomic_file.h"

namespace kvfuse::gguf {

using util::Status;

namespace {

class ByteSink {
 public:
  template <typename T>
  void Put(T v) {
    const size_t n = bytes_.size();
    bytes_.resize(n + sizeof(T));
    std::memcpy(bytes_.data() + n, &v, sizeof(T));
  }
  void PutString(const std::string& s) {
    Put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void PadTo(size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

void PutScalar(ByteSink& out, ValueType type, int64_t integer, double real) {
  switch (type) {
    case ValueType::kUint8: out.Put<uint8_t>(integer); break;
    case ValueType::kInt8: out.Put<int8_t>(integer); break;
    case ValueType::kUint16: out.Put<uint16_t>(integer); break;
    case ValueType::kInt16: out.Put<int16_t>(integer); break;
    case ValueType::kUint32: out.Put<uint32_t>(integer); break;
    case ValueType::kInt32: out.Put<int32_t>(integer); break;
    case ValueType::kUint64: out.Put<uint64_t>(integer); break;
    case ValueType::kInt64: out.Put<int64_t>(integer); break;
    case ValueType::kBool: out.Put<uint8_t>(integer != 0); break;
    case ValueType::kFloat32: out.Put<float>(static_cast<float>(real)); break;
    case ValueType::kFloat64: out.Put<double>(real); break;
    case ValueType::kString: case ValueType::kArray: KVFUSE_CHECK(false);
  }
}

void PutValue(ByteSink& out, const Value& v) {
  out.Put<uint32_t>(static_cast<uint32_t>(v.type));
  if (v.type == ValueType::kString) {
    out.PutString(v.text);
  } else if (v.type == ValueType::kArray) {
    out.Put<uint32_t>(static_cast<uint32_t>(v.element_type));
    out.Put<uint64_t>(v.array_size());
    if (v.element_type == ValueType::kString) {
      for (const auto& s : v.texts) out.PutString(s);
    } else if (IsFloatType(v.element_type)) {
      for (double r : v.reals) PutScalar(out, v.element_type, 0, r);
    } else {
      for (int64_t i : v.integers) PutScalar(out, v.element_type, i, 0);
    }
  } else {
    PutScalar(out, v.type, v.integer, v.real);
  }
}

}  // namespace

void GgufWriter::Set(const std::string& key, Value value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

Status GgufWriter::AddTensor(const std::string& name, tensor::DType type,
                             std::vector<int64_t> dims, std::vector<uint8_t> data) {
  if (dims.empty() || dims.size() > kMaxDims) return Status::Error(name + ": bad rank");
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d <= 0) return Status::Error(name + ": bad dimension");
    n *= d;
  }
  const auto& info = tensor::Info(type);
  if (dims[0] % info.block_size != 0)
    return Status::Error(name + ": row length is not a multiple of the block size");
  if (data.size() != tensor::RowBytes(type, dims[0]) * static_cast<size_t>(n / dims[0]))
    return Status::Error(name + ": data size does not match its shape and type");
  tensors_.push_back({name, type, std::move(dims), std::move(data)});
  return Status::Ok();
}

Status GgufWriter::Write(const std::string& path) const {
  ByteSink header;
  header.Put<uint32_t>(kGgufMagic);
  header.Put<uint32_t>(3);
  header.Put<uint64_t>(tensors_.size());
  const bool write_alignment = alignment_ != kDefaultAlignment;
  header.Put<uint64_t>(metadata_.size() + (write_alignment ? 1 : 0));
  if (write_alignment) {
    header.PutString("general.alignment");
    PutValue(header, Value::Uint32(alignment_));
  }
  for (const auto& [key, value] : metadata_) {
    header.PutString(key);
    PutValue(header, value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    header.PutString(t.name);
    header.Put<uint32_t>(t.dims.size());
    for (int64_t d : t.dims) header.Put<uint64_t>(d);
    header.Put<uint32_t>(static_cast<uint32_t>(t.type));
    header.Put<uint64_t>(offset);
    offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  header.PadTo(alignment_);

  auto writer = util::AtomicFileWriter::Open(path);
  if (!writer.ok()) return writer.status();
  KVFUSE_RETURN_IF_ERROR(writer->Append(header.bytes()));
  const std::string padding(alignment_, '\0');
  for (const auto& t : tensors_) {
    KVFUSE_RETURN_IF_ERROR(writer->Append(t.data.data(), t.data.size()));
    const size_t pad = (alignment_ - t.data.size() % alignment_) % alignment_;
    KVFUSE_RETURN_IF_ERROR(writer->Append(padding.data(), pad));
  }
  return writer->Commit();
}

}  // namespace kvfuse::gguf
