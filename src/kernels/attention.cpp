#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/ops.h"

namespace kvfuse::kernels {

void ReshapeContextLogits(const ContextLogits& context, float* logits, int n) {
  const int begin = std::max(context.begin, 0), end = std::min(context.end, n);
  if (begin >= end) return;
  float max = -std::numeric_limits<float>::infinity();
  for (int j = begin; j < end; ++j) max = std::max(max, logits[j] /= context.temperature);
  double sum = 0;
  for (int j = begin; j < end; ++j) sum += std::exp(static_cast<double>(logits[j] - max));
  const float shift = (context.lse_scale - 1.0f) * static_cast<float>(max + std::log(sum));
  for (int j = begin; j < end; ++j) logits[j] += shift;
}

namespace {

// The largest of x[0, n) (NaNs left out), in 8 independent lanes (no chain of n dependent
// steps; the fixed inner loop becomes one vector operation).
float Max(const float* x, int n) {
  float lane[8];
  std::fill(lane, lane + 8, -std::numeric_limits<float>::infinity());
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) lane[l] = lane[l] < x[j + l] ? x[j + l] : lane[l];
  for (; j < n; ++j) lane[0] = std::max(lane[0], x[j]);
  return *std::max_element(lane, lane + 8);
}

// A tile's dot products become logits: times the scale, then soft-capped.
void ScaleLogits(const LogitParams& logit, float* logits, int n) {
  for (int j = 0; j < n; ++j) logits[j] *= logit.scale;
  if (logit.softcap > 0) SoftCap(logits, n, logit.softcap);
}

// The tile's keys (slots tile[0, n)) laid out by dimension for dot_keys, in this thread's buffer.
const float* TransposedKeys(const KernelTable& k, int head_dim, const KvHeadView& kv, const int32_t* tile, int n) {
  thread_local std::vector<float> kt;
  kt.resize(static_cast<size_t>(head_dim) * kAttentionTile);
  k.transpose_keys(head_dim, kv.k_base, kv.slot_stride, tile, n, kt.data());
  return kt.data();
}

// x = softmax(x): the row's maximum first, so the table's softmax_tile takes each tile against
// it (nothing to rescale), then every weight divided by the sum.
void Softmax(const KernelTable& k, float* x, int n) {
  float max = Max(x, n);
  double sum = 0;
  for (int j0 = 0; j0 < n; j0 += kAttentionTile)
    k.softmax_tile(x + j0, std::min(kAttentionTile, n - j0), 0, 1.0f, &max, &sum);
  const float inv = static_cast<float>(1.0 / sum);
  for (int j = 0; j < n; ++j) x[j] *= inv;
}

}  // namespace

void AttentionWeights(const KernelTable& k, const float* q, int head_dim, const KvHeadView& kv,
                      const int32_t* slots, int n_slots, const LogitParams& logit, float* scores,
                      const ContextLogits* context) {
  float logits[kAttentionTile];
  for (int j0 = 0; j0 < n_slots; j0 += kAttentionTile) {  // each key's dot the bits of AttendRowsTiled's
    const int n = std::min(kAttentionTile, n_slots - j0);
    k.dot_keys(head_dim, &q, 1, TransposedKeys(k, head_dim, kv, slots + j0, n), logits);
    std::copy(logits, logits + n, scores + j0);
  }
  ScaleLogits(logit, scores, n_slots);
  if (context) ReshapeContextLogits(*context, scores, n_slots);
  Softmax(k, scores, n_slots);
}

void AttendOneHead(const KernelTable& k, const float* q, int head_dim, const KvHeadView& kv,
                   const int32_t* slots, int n_slots, const LogitParams& logit, float* scores, float* out,
                   const ContextLogits* context) {
  AttentionWeights(k, q, head_dim, kv, slots, n_slots, logit, scores, context);
  std::memset(out, 0, head_dim * sizeof(float));
  for (int j0 = 0; j0 < n_slots; j0 += kAttentionTile)
    k.weighted_sum(head_dim, scores + j0, 1, kv.v_base, kv.slot_stride, slots + j0,
                   std::min(kAttentionTile, n_slots - j0), &out);
}

namespace {

// Per row of AttendRowsTiled: the running maximum logit and the sum of exp(logit - maximum);
// its out holds the unnormalised weighted values until the end.
struct RunningSoftmax {
  float max = -std::numeric_limits<float>::infinity();
  double sum = 0;  // as Softmax sums: long contexts add many small terms
};

// Keys [j0, j0 + n) of a call's slot list, which `slots` points at.
struct KeyTile {
  const int32_t* slots;
  int j0, n;
};

// A row that sees keys [skip, seen) of a tile (the `skip` before its window weigh 0).
struct TileRow {
  int row, skip, seen;
};

// The rows' work on one tile: the rows that see any of its keys get their logits in one
// dot_keys call, an online softmax step each, and their weighted values in one weighted_sum
// call per run of rows that see the same keys of it (each token's heads).
void AttendTile(const KernelTable& k, const AttentionRow* rows, int n_rows, int head_dim, const KvHeadView& kv,
                const KeyTile& tile, const LogitParams& logit, RunningSoftmax* state) {
  thread_local std::vector<TileRow> active;
  thread_local std::vector<const float*> q;
  thread_local std::vector<float*> out;
  thread_local std::vector<float> logits;
  active.clear(), q.clear(), out.clear();
  for (int r = 0; r < n_rows; ++r) {
    const int seen = std::min(kAttentionTile, rows[r].n_visible - tile.j0), skip = std::max(rows[r].first - tile.j0, 0);
    if (seen <= skip) continue;
    active.push_back({r, skip, seen}), q.push_back(rows[r].q), out.push_back(rows[r].out);
  }
  const int n_active = static_cast<int>(active.size());
  if (n_active == 0) return;
  logits.resize(static_cast<size_t>(n_active) * kAttentionTile);
  k.dot_keys(head_dim, q.data(), n_active, TransposedKeys(k, head_dim, kv, tile.slots, tile.n), logits.data());
  for (int a = 0; a < n_active; ++a) {
    const TileRow& t = active[a];
    const AttentionRow& row = rows[t.row];
    float* l = logits.data() + static_cast<size_t>(a) * kAttentionTile;
    // Scaled here (the same products) where the logits are capped or recorded before the softmax.
    const bool scaled = logit.softcap > 0 || row.weights;
    if (scaled) ScaleLogits(logit, l, t.seen);
    if (row.weights) std::copy(l + t.skip, l + t.seen, row.weights + (tile.j0 + t.skip - row.first));
    RunningSoftmax& s = state[t.row];
    const float shrink = k.softmax_tile(l, t.seen, t.skip, scaled ? 1.0f : logit.scale, &s.max, &s.sum);
    if (shrink != 1.0f)
      for (int i = 0; i < head_dim; ++i) row.out[i] *= shrink;
  }
  // The values before a window are not read at all: their weight is 0.
  for (int a0 = 0, a1 = 0; a0 < n_active; a0 = a1) {
    const TileRow& t = active[a0];
    while (a1 < n_active && active[a1].skip == t.skip && active[a1].seen == t.seen) ++a1;
    k.weighted_sum(head_dim, logits.data() + static_cast<size_t>(a0) * kAttentionTile + t.skip, a1 - a0, kv.v_base,
                   kv.slot_stride, tile.slots + t.skip, t.seen - t.skip, out.data() + a0);
  }
}

}  // namespace

void AttendRowsTiled(const KernelTable& k, const AttentionRow* rows, int n_rows, int head_dim,
                     const KvHeadView& kv, const int32_t* slots, const LogitParams& logit) {
  int first_key = std::numeric_limits<int>::max(), n_keys = 0;
  for (int r = 0; r < n_rows; ++r)
    if (rows[r].first < rows[r].n_visible) {
      first_key = std::min(first_key, rows[r].first);
      n_keys = std::max(n_keys, rows[r].n_visible);
    }
  // Tiles stay on the grid of multiples of kAttentionTile, so a row's tiles (and its rounding)
  // depend on its own window alone, never on which rows share the call.
  if (first_key < n_keys) first_key -= first_key % kAttentionTile;
  std::vector<RunningSoftmax> state(n_rows);
  for (int r = 0; r < n_rows; ++r) std::memset(rows[r].out, 0, head_dim * sizeof(float));
  for (int j0 = first_key; j0 < n_keys; j0 += kAttentionTile)
    AttendTile(k, rows, n_rows, head_dim, kv, {slots + j0, j0, std::min(kAttentionTile, n_keys - j0)}, logit,
               state.data());
  for (int r = 0; r < n_rows; ++r) {  // a row that sees no key stays zero, as in AttendOneHead
    const float inv = rows[r].first < rows[r].n_visible ? static_cast<float>(1.0 / state[r].sum) : 0.0f;
    for (int i = 0; i < head_dim; ++i) rows[r].out[i] *= inv;
    if (float* w = rows[r].weights; w && inv > 0) {  // its logits, normalised as the sum was
      const int n = rows[r].n_visible - rows[r].first;
      for (int j = 0; j < n; ++j) w[j] -= state[r].max;
      k.exp_f32(n, w, w);
      for (int j = 0; j < n; ++j) w[j] *= inv;
    }
  }
}

}  // namespace kvfuse::kernels
