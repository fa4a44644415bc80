// collection.json: see collection_files.h for the layout.
#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

#include "rag/collection_files.h"
#include "rag/document.h"
#include "util/atomic_file.h"
#include "util/hash.h"

namespace kvfuse::rag {
namespace {

using nlohmann::json;
using util::Status;

constexpr char kFormat[] = "kvfuse-collection";
constexpr std::string_view kChecksumKey = ",\"checksum\":\"";
constexpr size_t kChecksumDigits = 16;
constexpr std::string_view kEnd = "\"}\n";
constexpr size_t kTail = kChecksumKey.size() + kChecksumDigits + kEnd.size();

// Everything before the body, byte for byte as written.
std::string Prefix() {
  return std::string("{\"format\":\"") + kFormat + "\",\"version\":" + std::to_string(kManifestVersion) +
         ",\"body\":";
}

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// Exactly 16 hex digits; throws otherwise (a damaged body).
uint64_t ParseHex(std::string_view s) {
  const auto bad = [&] { return std::runtime_error("bad hex number '" + std::string(s) + "'"); };
  if (s.size() != kChecksumDigits) throw bad();
  uint64_t v = 0;
  for (char c : s) {
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) throw bad();
    v = v << 4 | static_cast<uint64_t>(d);
  }
  return v;
}

// An integer field that fits int32_t; throws otherwise (nlohmann's get<int32_t> converts a
// float such as 2e23 with undefined behaviour). Errors name the type only: dump() of a
// deeply nested value recurses.
int32_t Int32(const json& j) {
  if (!j.is_number_integer()) throw std::runtime_error(std::string("an integer expected, not ") + j.type_name());
  const bool too_big = j.is_number_unsigned() ? j.get<uint64_t>() > INT32_MAX
                                              : j.get<int64_t>() > INT32_MAX || j.get<int64_t>() < INT32_MIN;
  if (too_big) throw std::runtime_error("an integer out of the 32-bit range");
  return static_cast<int32_t>(j.get<int64_t>());
}

std::vector<int32_t> Int32s(const json& j) {
  if (!j.is_array()) throw std::runtime_error(std::string("an array expected, not ") + j.type_name());
  std::vector<int32_t> out;
  for (const json& x : j) out.push_back(Int32(x));
  return out;
}

// Everything stored is valid UTF-8 (Ingest skips files whose path is not); never throws.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

ManifestRead Fail(StoredFileState state, std::string message) {
  ManifestRead r;
  r.state = state;
  r.error = Status::Error(std::move(message));
  return r;
}

// The fields of a body whose checksum matched; throws (nlohmann or runtime_error) when a
// field is missing, of the wrong type or inconsistent.
ManifestRead FromBody(const json& body) {
  ManifestRead r;
  r.state = StoredFileState::kOk;
  r.header.model_fingerprint = ParseHex(body.at("model_fingerprint").get<std::string>());
  r.header.embed_layer = Int32(body.at("embed_layer"));
  r.header.next_id = Int32(body.at("next_id"));
  r.header.vectors_checksum = ParseHex(body.at("vectors_checksum").get<std::string>());
  for (const json& f : body.at("files"))
    r.files.push_back({f.at("path").get<std::string>(), ParseHex(f.at("hash").get<std::string>()),
                       Int32s(f.at("chunks"))});
  std::vector<bool> seen(static_cast<size_t>(std::max(r.header.next_id, 0)));
  for (const json& c : body.at("chunks")) {
    CollectionChunk chunk{Int32(c.at("id")), c.at("file").get<std::string>(), c.at("heading").get<std::string>(),
                          c.at("text").get<std::string>(), Int32(c.at("tokens"))};
    if (chunk.id < 0 || chunk.id >= r.header.next_id || seen[chunk.id])
      throw std::runtime_error("bad chunk id " + std::to_string(chunk.id));
    seen[chunk.id] = true;
    r.chunks.push_back(std::move(chunk));
  }
  for (const CollectionFile& f : r.files)
    for (int32_t id : f.chunk_ids)
      if (id < 0 || id >= r.header.next_id || !seen[id])
        throw std::runtime_error("file " + f.path + " lists chunk " + std::to_string(id) + ", which is not stored");
  return r;
}

// A file that does not start as this version writes it: older, newer, foreign or damaged.
ManifestRead Identify(const std::string& path, const std::string& bytes) {
  const json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(StoredFileState::kDamaged, path + " is damaged (not valid JSON)");
  const auto format = j.is_object() ? j.find("format") : j.end();
  if (!j.is_object() || format == j.end() || *format != kFormat)
    return Fail(StoredFileState::kUnusable, path + " is not a kvfuse collection manifest");
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer())
    return Fail(StoredFileState::kDamaged, path + " is damaged (no format version)");
  const long long v = version->get<long long>();
  if (v < kManifestVersion)
    return Fail(StoredFileState::kOutdated,
                util::StrFormat("%s: collection format version %lld is older than this kvfuse reads (%d)",
                                path.c_str(), v, kManifestVersion));
  if (v > kManifestVersion)
    return Fail(StoredFileState::kUnusable,
                util::StrFormat("%s: collection format version %lld is newer than this kvfuse reads (%d): "
                                "use a newer kvfuse",
                                path.c_str(), v, kManifestVersion));
  return Fail(StoredFileState::kDamaged, path + " is damaged (not laid out as kvfuse writes it: edited?)");
}

// Appends to the manifest file through a buffer, hashing the body as it goes.
class BodyWriter {
 public:
  explicit BodyWriter(util::AtomicFileWriter& file) : file_(file) {}
  Status Add(std::string_view s) {
    hasher_.Add(s);
    buffer_ += s;
    return buffer_.size() >= kFlushBytes ? Flush() : Status::Ok();
  }
  Status Flush() {
    const Status st = file_.Append(buffer_);
    buffer_.clear();
    return st;
  }
  uint64_t Digest() const { return hasher_.Digest(); }

 private:
  static constexpr size_t kFlushBytes = size_t{1} << 20;
  util::AtomicFileWriter& file_;
  util::Hasher hasher_;
  std::string buffer_;
};

// `"name":[` then one element a line, then `]`.
template <typename T, typename ToJson>
Status AddArray(BodyWriter& body, const char* name, const std::vector<T>& items, ToJson to_json) {
  KVFUSE_RETURN_IF_ERROR(body.Add(std::string("\"") + name + "\":["));
  for (size_t i = 0; i < items.size(); ++i) {
    KVFUSE_RETURN_IF_ERROR(body.Add(i == 0 ? "\n" : ",\n"));
    KVFUSE_RETURN_IF_ERROR(body.Add(Dump(to_json(items[i]))));
  }
  return body.Add("\n]");
}

}  // namespace

ManifestRead ReadManifest(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return {};
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) return Fail(StoredFileState::kUnusable, bytes.status().message());
  const std::string& b = bytes.value();
  const std::string prefix = Prefix();
  if (b.size() < prefix.size() + kTail || b.compare(0, prefix.size(), prefix) != 0) return Identify(path, b);
  const std::string_view body(b.data() + prefix.size(), b.size() - prefix.size() - kTail);
  const std::string_view tail(b.data() + b.size() - kTail, kTail);
  if (tail.substr(0, kChecksumKey.size()) != kChecksumKey || tail.substr(kTail - kEnd.size()) != kEnd)
    return Fail(StoredFileState::kDamaged, path + " is damaged (no checksum at its end: truncated or edited?)");
  try {
    if (ParseHex(tail.substr(kChecksumKey.size(), kChecksumDigits)) != util::Hash64(body.data(), body.size()))
      return Fail(StoredFileState::kDamaged,
                  path + " is damaged (checksum mismatch: it was changed after kvfuse wrote it)");
    return FromBody(json::parse(body));
  } catch (const std::exception& e) {
    return Fail(StoredFileState::kDamaged, path + " is damaged (" + e.what() + ")");
  }
}

Status WriteManifest(const std::string& path, const ManifestHeader& header, const std::vector<CollectionFile>& files,
                     const std::vector<CollectionChunk>& chunks) {
  auto file = util::AtomicFileWriter::Open(path);
  if (!file.ok()) return file.status();
  KVFUSE_RETURN_IF_ERROR(file->Append(Prefix()));
  BodyWriter body(*file);
  std::string head = Dump({{"model_fingerprint", Hex(header.model_fingerprint)},
                           {"embed_layer", header.embed_layer},
                           {"next_id", header.next_id},
                           {"vectors_checksum", Hex(header.vectors_checksum)}});
  head.back() = ',';  // the object goes on with the files and the chunks
  KVFUSE_RETURN_IF_ERROR(body.Add(head + "\n"));
  KVFUSE_RETURN_IF_ERROR(AddArray(body, "files", files, [](const CollectionFile& f) {
    return json{{"path", f.path}, {"hash", Hex(f.content_hash)}, {"chunks", f.chunk_ids}};
  }));
  KVFUSE_RETURN_IF_ERROR(body.Add(",\n"));
  KVFUSE_RETURN_IF_ERROR(AddArray(body, "chunks", chunks, [](const CollectionChunk& c) {
    return json{{"id", c.id}, {"file", c.file}, {"heading", c.heading}, {"text", c.text}, {"tokens", c.n_tokens}};
  }));
  KVFUSE_RETURN_IF_ERROR(body.Add("}"));
  KVFUSE_RETURN_IF_ERROR(body.Flush());
  KVFUSE_RETURN_IF_ERROR(file->Append(kChecksumKey));
  KVFUSE_RETURN_IF_ERROR(file->Append(Hex(body.Digest())));
  KVFUSE_RETURN_IF_ERROR(file->Append(kEnd));
  return file->Commit();
}

}  // namespace kvfuse::rag
