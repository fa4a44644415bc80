// The one byte layout of a chunk record, shared by every tier that keeps records outside
// RAM (disk files, Redis values): a versioned header with its own checksum, then token ids,
// K, V, token scores and Cache-Craft metadata under a payload checksum.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "store/chunk_record.h"
#include "util/status.h"

namespace kvfuse::store {

constexpr size_t kRecordHeaderBytes = 80;

// The record's bytes, header first.
std::string EncodeRecord(const ChunkRecord& record);

// The whole record's size as its first kRecordHeaderBytes declare it, once the header passes
// every check DecodeRecord makes of it (kCorrupt otherwise): lets a reader refuse a forged
// size before allocating for it.
util::Result<uint64_t> RecordBytesFromHeader(std::string_view header, uint64_t key, const ChunkShape& shape,
                                             std::string_view where);
// kCorrupt ("WHERE: N bytes, its header declares M") unless `header` passes those checks and
// declares a record of exactly `record_bytes`: a file or value of another size is refused
// from its header alone.
util::Status CheckDeclaredSize(std::string_view header, size_t record_bytes, uint64_t key, const ChunkShape& shape,
                               std::string_view where);

// The record in `bytes` if it is whole, of this version, of chunk `key` and of `shape`;
// otherwise kCorrupt, its message starting with `where` (a file name, a Redis key) and
// naming the damage.
util::Result<ChunkRecord> DecodeRecord(std::string_view bytes, uint64_t key, const ChunkShape& shape,
                                       std::string_view where);

}  // namespace kvfuse::store
