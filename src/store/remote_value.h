// A chunk record as one value of a shared tier (Redis): a small checksummed envelope (magic,
// version, format, chunk key, sizes, checksum of what follows) and the zstd-compressed bytes
// of store/record_codec's record. Format kF16 keeps the KV bytes as the engine wrote them;
// kInt8 stores each f16 row as 8 bits and a scale (store/kv_int8), about half the bytes,
// lossy.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store/chunk_record.h"
#include "util/status.h"

namespace kvfuse::store {

enum class RemoteFormat : uint32_t { kF16 = 0, kInt8 = 1 };

// The envelope's version: part of every Redis key, so that kvfuse versions that store
// differently never read (and delete) each other's values.
constexpr uint32_t kRemoteValueVersion = 1;
// A record larger than this is not shared (nor accepted from Redis).
constexpr uint64_t kMaxRemoteRecordBytes = uint64_t{1} << 30;

// "f16" or "int8"; kInvalidArgument names the choices.
util::Result<RemoteFormat> ParseRemoteFormat(std::string_view name);
const char* RemoteFormatName(RemoteFormat format);

std::string EncodeRemoteValue(const ChunkRecord& record, RemoteFormat format);

// The record in `value` if the envelope and the record pass every check, are of chunk `key`
// and of `shape` (either format); otherwise kCorrupt naming `where` and the damage.
util::Result<ChunkRecord> DecodeRemoteValue(std::string_view value, uint64_t key, const ChunkShape& shape,
                                            std::string_view where);

}  // namespace kvfuse::store
