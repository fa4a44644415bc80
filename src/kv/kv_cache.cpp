#include "kv/kv_cache.h"

namespace kvfuse::kv {

KvCache::KvCache(const KvGeometry& geometry, int32_t n_slots) : geometry_(geometry), n_slots_(n_slots) {
  KVFUSE_CHECK(n_slots > 0 && geometry.n_layers > 0 && geometry.row_elements() > 0);
  const size_t n = static_cast<size_t>(n_slots) * geometry.row_elements();
  k_.assign(geometry.n_layers, std::vector<uint16_t>(n));
  v_.assign(geometry.n_layers, std::vector<uint16_t>(n));
}

}  // namespace kvfuse::kv
