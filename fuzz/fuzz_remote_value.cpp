// A Redis value that may be damaged or forged (another deployment, another version, an
// attacker with access to Redis): the remote tier's decoder must report it as kCorrupt, and
// never hand back a record, unless every check passes; a record it hands back has the asked
// key and shape and whole K and V. Half the inputs (an even last byte) get the envelope's
// checksums recomputed, as a forger would, so that mutations reach the size checks, zstd,
// the record's own checks and the 8-bit rows behind them.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "store/remote_value.h"
#include "util/hash.h"

using namespace kvfuse;

namespace {
constexpr uint64_t kKey = 1;
constexpr store::ChunkShape kShape{2, 16};  // as fuzz/make_chunk_seed.cpp writes it
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  constexpr size_t kEnvelope = 56, kStoredChecksumAt = 40, kHeaderChecksumAt = 48;  // remote_value.cpp's layout
  if (size >= kEnvelope && data[size - 1] % 2 == 0) {
    const uint64_t stored = util::Hash64(bytes.data() + kEnvelope, size - kEnvelope);
    std::memcpy(bytes.data() + kStoredChecksumAt, &stored, sizeof(stored));
    const uint64_t header = util::Hash64(bytes.data(), kHeaderChecksumAt);
    std::memcpy(bytes.data() + kHeaderChecksumAt, &header, sizeof(header));
  }
  const std::string_view value(bytes);
  auto record = store::DecodeRemoteValue(value, kKey, kShape, "fuzz");
  if (!record.ok()) {
    if (record.status().code() != util::StatusCode::kCorrupt) std::abort();
    return 0;
  }
  const store::ChunkRecord& r = record.value();
  if (r.key != kKey || !(r.shape == kShape) || r.k.size() != size_t{kShape.n_layers} * r.layer_bytes() ||
      r.v.size() != r.k.size())
    std::abort();
  return 0;
}
