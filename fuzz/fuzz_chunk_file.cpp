// A chunk-cache file on disk that may be damaged or forged: the disk tier's loader must
// report it as an error (and never hand back a record) unless every check passes. The
// input becomes the file of key 1 with the shape the seed was written for.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "store/disk_tier.h"
#include "temp_dir.h"

using namespace kvfuse;

namespace {
constexpr uint64_t kKey = 1;
constexpr store::ChunkShape kShape{2, 16};  // as fuzz/make_chunk_seed.cpp writes it

std::unique_ptr<store::DiskTier>& Tier() {
  static std::unique_ptr<store::DiskTier> tier;
  return tier;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto tier = store::DiskTier::Open(fuzz::TempDir("chunks"));
  if (!tier.ok()) std::abort();
  Tier() = std::make_unique<store::DiskTier>(std::move(tier).value());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = Tier()->PathOf(kKey);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto loaded = Tier()->Load(kKey, kShape);
  if (loaded.ok() && loaded.value()) {  // served: it must be whole
    const store::ChunkRecord& r = *loaded.value();
    const size_t kv_bytes = r.tokens.size() * kShape.n_layers * kShape.row_bytes;
    if (r.key != kKey || r.k.size() != kv_bytes || r.v.size() != kv_bytes) std::abort();
  }
  std::remove(path.c_str());
  return 0;
}
