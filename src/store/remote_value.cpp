#include "store/remote_value.h"

#include <zstd.h>

#include <cstddef>
#include <cstring>
#include <memory>

#include "store/kv_int8.h"
#include "store/record_codec.h"
#include "util/hash.h"

namespace kvfuse::store {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

constexpr char kMagic[8] = {'K', 'V', 'F', 'R', 'E', 'M', 'O', 'T'};
constexpr uint32_t kVersion = kRemoteValueVersion;
constexpr int kZstdLevel = 1;  // KV bytes compress little; the fastest level keeps most of it

struct Envelope {
  char magic[8];
  uint32_t version;
  uint32_t format;
  uint64_t key;
  uint64_t record_bytes;  // the record_codec bytes, uncompressed
  uint64_t stored_bytes;  // the compressed bytes after the envelope
  uint64_t stored_checksum;
  uint64_t header_checksum;  // of every field above
};
static_assert(sizeof(Envelope) == 56);

uint64_t HeaderChecksum(const Envelope& e) { return util::Hash64(&e, offsetof(Envelope, header_checksum)); }

uint32_t Elements(const ChunkShape& shape) { return shape.row_bytes / sizeof(uint16_t); }

ChunkShape Int8Shape(const ChunkShape& shape) {
  return {shape.n_layers, static_cast<uint32_t>(Int8RowBytes(Elements(shape)))};
}

// Runs the decompressor until the frame ends (0), it stops moving (output full or input
// used up: the last hint, > 0), or it fails (a zstd error code).
size_t Pump(ZSTD_DCtx* dctx, ZSTD_outBuffer& out, ZSTD_inBuffer& in) {
  for (;;) {
    const size_t in_before = in.pos, out_before = out.pos;
    const size_t hint = ZSTD_decompressStream(dctx, &out, &in);
    if (ZSTD_isError(hint) || hint == 0) return hint;
    if (in.pos == in_before && out.pos == out_before) return hint;
  }
}

// The record bytes in a zstd frame, allocated only once their header has passed its checks
// and declared the size the envelope says (a forged size is refused, not allocated).
Result<std::string> Decompress(std::string_view stored, uint64_t record_bytes, uint64_t key,
                               const ChunkShape& record_shape, const std::string& where) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  ZSTD_inBuffer in{stored.data(), stored.size(), 0};
  char head[kRecordHeaderBytes];
  ZSTD_outBuffer head_out{head, sizeof(head), 0};
  if (ZSTD_isError(Pump(dctx.get(), head_out, in)) || head_out.pos != sizeof(head))
    return Status::Corrupt(where + ": compressed payload does not hold a record header");
  auto total = RecordBytesFromHeader(std::string_view(head, sizeof(head)), key, record_shape, where);
  if (!total.ok()) return total.status();
  if (total.value() != record_bytes || record_bytes > kMaxRemoteRecordBytes)
    return Status::Corrupt(where + StrFormat(": record of %llu bytes, the envelope says %llu",
                                             static_cast<unsigned long long>(total.value()),
                                             static_cast<unsigned long long>(record_bytes)));
  std::string raw(record_bytes, '\0');
  std::memcpy(raw.data(), head, sizeof(head));
  ZSTD_outBuffer out{raw.data(), raw.size(), sizeof(head)};
  const size_t end = Pump(dctx.get(), out, in);
  if (end != 0 || out.pos != raw.size() || in.pos != in.size)
    return Status::Corrupt(where + ": compressed payload does not decompress to its size");
  return raw;
}

// The record with its K and V rows as 8 bits (or back), everything else kept.
ChunkRecord ConvertRows(const ChunkRecord& from, const ChunkShape& to_shape, bool quantize) {
  ChunkRecord to;  // not a copy of `from`: its K and V would be copied only to be replaced
  to.key = from.key;
  to.context_hash = from.context_hash;
  to.token_scores = from.token_scores;
  to.context_chunks = from.context_chunks;
  to.context_weights = from.context_weights;
  to.cci = from.cci;
  to.Resize(to_shape, from.tokens);
  const size_t rows = static_cast<size_t>(from.shape.n_layers) * from.n_tokens();
  const size_t elements = Elements(quantize ? from.shape : to_shape);
  for (auto [src, dst] : {std::pair{&from.k, &to.k}, std::pair{&from.v, &to.v}}) {
    if (quantize)
      QuantizeRowsInt8(reinterpret_cast<const uint16_t*>(src->data()), rows, elements, dst->data());
    else
      DequantizeRowsInt8(src->data(), rows, elements, reinterpret_cast<uint16_t*>(dst->data()));
  }
  return to;
}

}  // namespace

Result<RemoteFormat> ParseRemoteFormat(std::string_view name) {
  if (name == "f16") return RemoteFormat::kF16;
  if (name == "int8") return RemoteFormat::kInt8;
  return Status::InvalidArgument("unknown KV format '" + std::string(name) + "' (f16 or int8)");
}

const char* RemoteFormatName(RemoteFormat format) { return format == RemoteFormat::kInt8 ? "int8" : "f16"; }

std::string EncodeRemoteValue(const ChunkRecord& record, RemoteFormat format) {
  KVFUSE_CHECK(record.shape.row_bytes % sizeof(uint16_t) == 0);  // KV rows are f16
  const std::string raw = format == RemoteFormat::kInt8
                              ? EncodeRecord(ConvertRows(record, Int8Shape(record.shape), /*quantize=*/true))
                              : EncodeRecord(record);
  std::string value(sizeof(Envelope) + ZSTD_compressBound(raw.size()), '\0');
  const size_t stored = ZSTD_compress(value.data() + sizeof(Envelope), value.size() - sizeof(Envelope), raw.data(),
                                      raw.size(), kZstdLevel);
  KVFUSE_CHECK(!ZSTD_isError(stored));  // the bound always fits
  value.resize(sizeof(Envelope) + stored);
  Envelope e{};
  std::memcpy(e.magic, kMagic, sizeof(kMagic));
  e.version = kVersion;
  e.format = static_cast<uint32_t>(format);
  e.key = record.key;
  e.record_bytes = raw.size();
  e.stored_bytes = stored;
  e.stored_checksum = util::Hash64(value.data() + sizeof(Envelope), stored);
  e.header_checksum = HeaderChecksum(e);
  std::memcpy(value.data(), &e, sizeof(e));
  return value;
}

Result<ChunkRecord> DecodeRemoteValue(std::string_view value, uint64_t key, const ChunkShape& shape,
                                      std::string_view where) {
  const std::string name(where);
  auto corrupt = [&name](const std::string& what) { return Status::Corrupt(name + ": " + what); };
  Envelope e;
  if (value.size() < sizeof(e)) return corrupt("truncated envelope");
  std::memcpy(&e, value.data(), sizeof(e));
  if (std::memcmp(e.magic, kMagic, sizeof(kMagic)) != 0) return corrupt("not a kvfuse chunk value");
  if (e.header_checksum != HeaderChecksum(e)) return corrupt("envelope checksum mismatch");
  if (e.version != kVersion) return corrupt(StrFormat("version %u, expected %u", e.version, kVersion));
  if (e.key != key) return corrupt("holds another chunk");
  if (e.format != static_cast<uint32_t>(RemoteFormat::kF16) && e.format != static_cast<uint32_t>(RemoteFormat::kInt8))
    return corrupt(StrFormat("unknown KV format %u", e.format));
  const std::string_view stored = value.substr(sizeof(e));
  if (e.stored_bytes != stored.size()) return corrupt(StrFormat("%zu bytes after the envelope, expected %llu",
                                                                stored.size(), static_cast<unsigned long long>(e.stored_bytes)));
  if (util::Hash64(stored.data(), stored.size()) != e.stored_checksum) return corrupt("payload checksum mismatch");
  const bool int8 = e.format == static_cast<uint32_t>(RemoteFormat::kInt8);
  if (int8 && shape.row_bytes % sizeof(uint16_t) != 0) return corrupt("8-bit KV for rows that are not f16");
  const ChunkShape record_shape = int8 ? Int8Shape(shape) : shape;
  auto raw = Decompress(stored, e.record_bytes, key, record_shape, name);
  if (!raw.ok()) return raw.status();
  if (!int8) return DecodeRecord(raw.value(), key, shape, name);
  auto quantized = DecodeRecord(raw.value(), key, record_shape, name);
  if (!quantized.ok()) return quantized.status();
  return ConvertRows(quantized.value(), shape, /*quantize=*/false);
}

}  // namespace kvfuse::store
