#include "store/record_codec.h"

#include <cstddef>
#include <cstring>

#include "util/hash.h"

namespace kvfuse::store {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

constexpr char kMagic[8] = {'K', 'V', 'F', 'C', 'H', 'U', 'N', 'K'};
constexpr uint32_t kVersion = 2;

struct RecordHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint64_t key;
  uint64_t context_hash;
  uint32_t n_tokens;
  uint32_t n_layers;
  uint32_t row_bytes;
  uint32_t n_scores;
  uint32_t n_context;
  float cci;
  uint64_t payload_bytes;
  uint64_t payload_checksum;
  uint64_t header_checksum;  // of every field above
};
static_assert(sizeof(RecordHeader) == kRecordHeaderBytes);

uint64_t HeaderChecksum(const RecordHeader& h) { return util::Hash64(&h, offsetof(RecordHeader, header_checksum)); }

uint64_t PayloadChecksum(const ChunkRecord& r) {
  util::Hasher hasher;
  hasher.Add(r.tokens.data(), r.tokens.size() * sizeof(int32_t))
      .Add(r.k.data(), r.k.size())
      .Add(r.v.data(), r.v.size())
      .Add(r.token_scores.data(), r.token_scores.size() * sizeof(float))
      .Add(r.context_chunks.data(), r.context_chunks.size() * sizeof(uint64_t))
      .Add(r.context_weights.data(), r.context_weights.size() * sizeof(float));
  return hasher.Digest();
}

// The header's checks, before any payload byte is read; the payload's size it declares.
Result<uint64_t> CheckHeader(const RecordHeader& h, uint64_t key, const ChunkShape& shape, const std::string& where) {
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0)
    return Status::Corrupt(StrFormat("%s: not a kvfuse chunk record", where.c_str()));
  if (h.header_checksum != HeaderChecksum(h))
    return Status::Corrupt(StrFormat("%s: header checksum mismatch", where.c_str()));
  if (h.version != kVersion || h.header_bytes != sizeof(h))
    return Status::Corrupt(StrFormat("%s: version %u, expected %u", where.c_str(), h.version, kVersion));
  if (h.key != key) return Status::Corrupt(StrFormat("%s: holds another chunk", where.c_str()));
  if (h.n_layers != shape.n_layers || h.row_bytes != shape.row_bytes)
    return Status::Corrupt(StrFormat("%s: KV shape %ux%u, expected %ux%u", where.c_str(), h.n_layers, h.row_bytes,
                                     shape.n_layers, shape.row_bytes));
  if (h.n_scores != 0 && h.n_scores != h.n_tokens)
    return Status::Corrupt(StrFormat("%s: %u token scores for %u tokens", where.c_str(), h.n_scores, h.n_tokens));
  const uint64_t kv_bytes = uint64_t{h.n_tokens} * h.n_layers * h.row_bytes;
  const uint64_t want = uint64_t{h.n_tokens} * 4 + 2 * kv_bytes + uint64_t{h.n_scores} * 4 + uint64_t{h.n_context} * 12;
  if (h.payload_bytes != want)
    return Status::Corrupt(StrFormat("%s: header declares %llu payload bytes, its fields %llu", where.c_str(),
                                     static_cast<unsigned long long>(h.payload_bytes),
                                     static_cast<unsigned long long>(want)));
  return want;
}

}  // namespace

std::string EncodeRecord(const ChunkRecord& r) {
  KVFUSE_CHECK(r.k.size() == static_cast<size_t>(r.shape.n_layers) * r.layer_bytes() && r.v.size() == r.k.size());
  KVFUSE_CHECK(r.token_scores.empty() || r.token_scores.size() == r.tokens.size());
  KVFUSE_CHECK(r.context_chunks.size() == r.context_weights.size());
  RecordHeader h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kVersion;
  h.header_bytes = sizeof(h);
  h.key = r.key;
  h.context_hash = r.context_hash;
  h.n_tokens = r.n_tokens();
  h.n_layers = r.shape.n_layers;
  h.row_bytes = r.shape.row_bytes;
  h.n_scores = static_cast<uint32_t>(r.token_scores.size());
  h.n_context = static_cast<uint32_t>(r.context_chunks.size());
  h.cci = r.cci;
  h.payload_bytes = r.tokens.size() * 4 + r.k.size() + r.v.size() + r.token_scores.size() * 4 + r.context_chunks.size() * 12;
  h.payload_checksum = PayloadChecksum(r);
  h.header_checksum = HeaderChecksum(h);
  std::string out;
  out.reserve(sizeof(h) + h.payload_bytes);
  auto put = [&out](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  put(&h, sizeof(h));
  put(r.tokens.data(), r.tokens.size() * 4);
  put(r.k.data(), r.k.size());
  put(r.v.data(), r.v.size());
  put(r.token_scores.data(), r.token_scores.size() * 4);
  put(r.context_chunks.data(), r.context_chunks.size() * 8);
  put(r.context_weights.data(), r.context_weights.size() * 4);
  return out;
}

Result<uint64_t> RecordBytesFromHeader(std::string_view header, uint64_t key, const ChunkShape& shape,
                                       std::string_view where) {
  const std::string name(where);
  RecordHeader h;
  if (header.size() < sizeof(h)) return Status::Corrupt(StrFormat("%s: truncated header", name.c_str()));
  std::memcpy(&h, header.data(), sizeof(h));
  auto payload = CheckHeader(h, key, shape, name);
  if (!payload.ok()) return payload.status();
  return sizeof(h) + payload.value();
}

Status CheckDeclaredSize(std::string_view header, size_t record_bytes, uint64_t key, const ChunkShape& shape,
                         std::string_view where) {
  auto total = RecordBytesFromHeader(header, key, shape, where);
  if (!total.ok()) return total.status();
  if (total.value() != record_bytes)
    return Status::Corrupt(StrFormat("%s: %zu bytes, its header declares %llu", std::string(where).c_str(),
                                     record_bytes, static_cast<unsigned long long>(total.value())));
  return Status::Ok();
}

Result<ChunkRecord> DecodeRecord(std::string_view bytes, uint64_t key, const ChunkShape& shape, std::string_view where) {
  KVFUSE_RETURN_IF_ERROR(CheckDeclaredSize(bytes, bytes.size(), key, shape, where));
  const std::string name(where);
  RecordHeader h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  ChunkRecord r;
  r.key = h.key;
  r.context_hash = h.context_hash;
  std::vector<int32_t> tokens(h.n_tokens);
  const char* p = bytes.data() + sizeof(h);
  // The payload's fields in order; an empty one has a null data(), which memcpy must not see.
  auto take = [&p](void* dst, size_t n) {
    if (n) std::memcpy(dst, p, n);
    p += n;
  };
  take(tokens.data(), tokens.size() * 4);
  r.Resize(shape, std::move(tokens));
  take(r.k.data(), r.k.size());
  take(r.v.data(), r.v.size());
  r.token_scores.resize(h.n_scores);
  take(r.token_scores.data(), r.token_scores.size() * 4);
  r.context_chunks.resize(h.n_context);
  take(r.context_chunks.data(), r.context_chunks.size() * 8);
  r.context_weights.resize(h.n_context);
  take(r.context_weights.data(), r.context_weights.size() * 4);
  r.cci = h.cci;
  if (PayloadChecksum(r) != h.payload_checksum)
    return Status::Corrupt(StrFormat("%s: payload checksum mismatch", name.c_str()));
  return r;
}

}  // namespace kvfuse::store
