#include "model/weight_packing.h"

#include <new>

#include "util/mapped_file.h"

namespace kvfuse::model {

uint8_t* PackedWeights::Add(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, rounded > 0 ? rounded : 64));
  if (!p) throw std::bad_alloc();
  buffers_.emplace_back(p);
  return p;
}

namespace {

void Pack(const kernels::KernelTable& k, kernels::WeightView& view, PackedWeights& storage) {
  const kernels::PackedKernels packed = k.PackedFor(view.type);
  if (!packed.pack) return;
  const size_t bytes = packed.bytes(view.n_cols, view.n_rows);
  if (bytes == 0) return;
  uint8_t* out = storage.Add(bytes);
  packed.pack(view.n_cols, view.n_rows, view.data, view.row_bytes(), out);
  util::MappedFile::ReleasePages(view.data, view.row_bytes() * view.n_rows);
  view.packed = out;
  view.packed_for = &k;
}

}  // namespace

void PackWeights(const kernels::KernelTable& k, ModelWeights& w, PackedWeights& storage) {
  Pack(k, w.output, storage);
  for (LayerWeights& l : w.layers)
    for (kernels::WeightView* view : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      Pack(k, *view, storage);
}

}  // namespace kvfuse::model
