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

// The largest and the sum of x[0, n), in 8 independent lanes (no chain of n dependent steps;
// the fixed inner loops become one vector operation).
float Max(const float* x, int n) {
  float lane[8];
  std::fill(lane, lane + 8, -std::numeric_limits<float>::infinity());
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) lane[l] = lane[l] < x[j + l] ? x[j + l] : lane[l];
  for (; j < n; ++j) lane[0] = std::max(lane[0], x[j]);
  return *std::max_element(lane, lane + 8);
}
double Sum(const float* x, int n) {
  float lane[8] = {};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) lane[l] += x[j + l];
  double sum = 0;
  for (float l : lane) sum += l;
  for (; j < n; ++j) sum += x[j];
  return sum;
}

// A tile's dot products become logits: times the scale, then soft-capped.
void ScaleLogits(const LogitParams& logit, float* logits, int n) {
  for (int j = 0; j < n; ++j) logits[j] *= logit.scale;
  if (logit.softcap > 0) SoftCap(logits, n, logit.softcap);
}

// One tile of a row's online softmax: logits[0, n), of which the first `skip` lie before
// the row's window, become the tile's weights against the row's running maximum (those
// `skip` weigh 0); what `sum` and `out` hold is rescaled when the maximum grows.
void OnlineSoftmaxStep(const KernelTable& k, float* logits, int n, int skip, int head_dim, float& max, double& sum,
                       float* out) {
  const float tile_max = Max(logits + skip, n - skip);
  if (tile_max > max) {
    const float shrink = std::exp(max - tile_max);
    sum *= shrink;
    for (int i = 0; i < head_dim; ++i) out[i] *= shrink;
    max = tile_max;
  }
  for (int j = skip; j < n; ++j) logits[j] -= max;
  k.exp_f32(n - skip, logits + skip, logits + skip);
  std::fill(logits, logits + skip, 0.0f);
  sum += Sum(logits + skip, n - skip);
}

// A key tile (slots tile[0, n)) is read from its f16 rows where the table can, else converted
// first (once for every row that reads it), with the same bits. Converted gives the rows of
// `base` converted into `buffer`, or nullptr where the table reads them as they are; TileDots
// and TileWeightedSum read what it gave.
const float* Converted(const KernelTable& k, int head_dim, const uint16_t* base, size_t stride, const int32_t* tile,
                       int n, std::vector<float>& buffer) {
  if (k.dot_keys_f16 && k.weighted_sum_f16) return nullptr;
  buffer.resize(static_cast<size_t>(n) * head_dim);
  k.gather_f16_rows(head_dim, base, stride, tile, n, buffer.data());
  return buffer.data();
}

// out[j] = q·key_j for the tile's first n keys.
void TileDots(const KernelTable& k, int head_dim, const float* q, const KvHeadView& kv, const int32_t* tile, int n,
              const float* converted, float* out) {
  if (converted) {
    k.dot_keys(head_dim, q, converted, n, out);
  } else {
    k.dot_keys_f16(head_dim, q, kv.k_base, kv.slot_stride, tile, n, out);
  }
}

// acc += sum_j w[j] * value_j over the tile's first n values.
void TileWeightedSum(const KernelTable& k, int head_dim, const float* w, const KvHeadView& kv, const int32_t* tile,
                     int n, const float* converted, float* acc) {
  if (converted) {
    k.weighted_sum_f32(head_dim, w, converted, n, acc);
  } else {
    k.weighted_sum_f16(head_dim, w, kv.v_base, kv.slot_stride, tile, n, acc);
  }
}

// x = softmax(x) with the table's exp, summed a tile at a time as the tiled rows sum.
void Softmax(const KernelTable& k, float* x, int n) {
  const float max = Max(x, n);
  for (int j = 0; j < n; ++j) x[j] -= max;
  k.exp_f32(n, x, x);
  double sum = 0;
  for (int j0 = 0; j0 < n; j0 += kAttentionTile) sum += Sum(x + j0, std::min(kAttentionTile, n - j0));
  const float inv = static_cast<float>(1.0 / sum);
  for (int j = 0; j < n; ++j) x[j] *= inv;
}

}  // namespace

void AttentionWeights(const KernelTable& k, const float* q, int head_dim, const KvHeadView& kv,
                      const int32_t* slots, int n_slots, const LogitParams& logit, float* scores,
                      const ContextLogits* context) {
  thread_local std::vector<float> keys;
  for (int j0 = 0; j0 < n_slots; j0 += kAttentionTile) {  // each key's dot the bits of AttendRowsTiled's
    const int n = std::min(kAttentionTile, n_slots - j0);
    const float* converted = Converted(k, head_dim, kv.k_base, kv.slot_stride, slots + j0, n, keys);
    TileDots(k, head_dim, q, kv, slots + j0, n, converted, scores + j0);
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
  thread_local std::vector<float> values;
  for (int j0 = 0; j0 < n_slots; j0 += kAttentionTile) {
    const int n = std::min(kAttentionTile, n_slots - j0);
    const float* converted = Converted(k, head_dim, kv.v_base, kv.slot_stride, slots + j0, n, values);
    TileWeightedSum(k, head_dim, scores + j0, kv, slots + j0, n, converted, out);
  }
}

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
  // Per row: the running maximum logit and the sum of exp(logit - maximum); out holds the
  // unnormalised weighted values until the end.
  std::vector<float> max(n_rows, -std::numeric_limits<float>::infinity());
  std::vector<double> sum(n_rows, 0.0);  // as Softmax sums: long contexts add many small terms
  for (int r = 0; r < n_rows; ++r) std::memset(rows[r].out, 0, head_dim * sizeof(float));
  float logits[kAttentionTile];
  // Keys and values read from their f16 rows where the table can (measured on AVX-512: as
  // fast for 48 rows as converting each tile once, faster for a decoded token's few heads).
  thread_local std::vector<float> key_buffer, value_buffer;
  for (int j0 = first_key; j0 < n_keys; j0 += kAttentionTile) {
    const int32_t* tile = slots + j0;
    const int n_tile = std::min(kAttentionTile, n_keys - j0);
    const float* keys = Converted(k, head_dim, kv.k_base, kv.slot_stride, tile, n_tile, key_buffer);
    const float* values = Converted(k, head_dim, kv.v_base, kv.slot_stride, tile, n_tile, value_buffer);
    for (int r = 0; r < n_rows; ++r) {
      // The row's keys in this tile: [j0 + skip, j1); the `skip` before its window weigh 0.
      const int j1 = std::min(j0 + kAttentionTile, rows[r].n_visible), skip = std::max(rows[r].first - j0, 0);
      if (j1 <= j0 + skip) continue;
      const int n = j1 - j0;
      TileDots(k, head_dim, rows[r].q, kv, tile, n, keys, logits);
      ScaleLogits(logit, logits, n);
      if (rows[r].weights) std::copy(logits + skip, logits + n, rows[r].weights + (j0 + skip - rows[r].first));
      OnlineSoftmaxStep(k, logits, n, skip, head_dim, max[r], sum[r], rows[r].out);
      TileWeightedSum(k, head_dim, logits, kv, tile, n, values, rows[r].out);
    }
  }
  for (int r = 0; r < n_rows; ++r) {  // a row that sees no key stays zero, as in AttendOneHead
    const float inv = rows[r].first < rows[r].n_visible ? static_cast<float>(1.0 / sum[r]) : 0.0f;
    for (int i = 0; i < head_dim; ++i) rows[r].out[i] *= inv;
    if (float* w = rows[r].weights; w && inv > 0) {  // its logits, normalised as the sum was
      const int n = rows[r].n_visible - rows[r].first;
      for (int j = 0; j < n; ++j) w[j] -= max[r];
      k.exp_f32(n, w, w);
      for (int j = 0; j < n; ++j) w[j] *= inv;
    }
  }
}

}  // namespace kvfuse::kernels
