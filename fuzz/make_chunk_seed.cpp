// Writes the seeds of fuzz_chunk_file and fuzz_remote_value: a valid chunk file of key 1,
// shape 2 layers x 16 bytes, 3 tokens with scores and Cache-Craft context, and the same
// record as a Redis value in each format. Usage: make_chunk_seed CHUNK_DIR [REMOTE_DIR]
#include <cstdio>
#include <fstream>
#include <string>

#include "store/disk_tier.h"
#include "store/remote_value.h"

using namespace kvfuse;

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) return 2;
  auto tier = store::DiskTier::Open(argv[1]);
  if (!tier.ok()) return 1;
  store::ChunkRecord r;
  r.key = 1;
  r.context_hash = 7;
  r.Resize({2, 16}, {5, 6, 7});
  // Small f16 values (exponent bits kept low), so the 8-bit format has finite rows to scale.
  for (size_t i = 0; i < r.k.size(); ++i) r.k[i] = static_cast<uint8_t>(i), r.v[i] = static_cast<uint8_t>(i % 2 ? 0x30 : 3 * i);
  r.token_scores = {0.5f, 0.25f, 0.125f};
  r.context_chunks = {9};
  r.context_weights = {0.75f};
  r.cci = 0.5f;
  const util::Status st = tier.value().Save(r);
  if (!st.ok()) std::fprintf(stderr, "%s\n", st.message().c_str());
  if (argc == 3)
    for (store::RemoteFormat f : {store::RemoteFormat::kF16, store::RemoteFormat::kInt8}) {
      std::ofstream out(std::string(argv[2]) + "/valid_" + store::RemoteFormatName(f), std::ios::binary);
      out << store::EncodeRemoteValue(r, f);
    }
  return st.ok() ? 0 : 1;
}
