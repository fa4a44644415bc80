// Weight matrices repacked, once at load, for the packed products of a kernel table
// (kernels::PackedKernels): the copies live here and the weight views point at them.
//
// Threading: packing runs once, on the loading thread; the copies are read-only after.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "kernels/kernel_table.h"
#include "model/weights.h"

namespace kvfuse::model {

class PackedWeights {
 public:
  // A new 64-byte aligned buffer of `bytes`, owned by this object.
  uint8_t* Add(size_t bytes);

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<uint8_t, Free>> buffers_;
};

// Packs every matrix of `w` whose type `k` packs into `storage` (the embedding's rows are
// read one token at a time and stay as they are; a tied output is packed as the output).
void PackWeights(const kernels::KernelTable& k, ModelWeights& w, PackedWeights& storage);

}  // namespace kvfuse::model
