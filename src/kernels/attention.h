// Scaled dot-product attention of one query head over a list of cached KV slots.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"

namespace kvfuse::kernels {

// Keys and values are f16 rows of head_dim at base + slot * slot_stride (elements).
struct KvHeadView {
  const uint16_t* k_base = nullptr;
  const uint16_t* v_base = nullptr;
  size_t slot_stride = 0;
};

// How q·k becomes a logit: times `scale`, then, when softcap > 0, softcap * tanh(x / softcap)
// (Gemma 2's soft-capping).
struct LogitParams {
  float scale = 1.0f;
  float softcap = 0.0f;
};

// Attention to a range of the visible keys [begin, end) reshaped (APE's parallel-encoded
// contexts): their logits divided by `temperature`, and their log-sum-exp then multiplied by
// `lse_scale` (each shifted by (lse_scale - 1) * LSE), so that the range's total weight
// before normalisation is exp(lse_scale * LSE) of its tempered logits.
struct ContextLogits {
  int begin = 0, end = 0;
  float temperature = 1.0f, lse_scale = 1.0f;
};

// Applies `context` to logits[0, n) in place (the part of its range below n).
void ReshapeContextLogits(const ContextLogits& context, float* logits, int n);

// scores[j] = softmax_j(logit(q·K[slots[j]])), the logits reshaped by `context` when given:
// AttendOneHead's weights alone. Each logit is the bits AttendRowsTiled computes for it.
void AttentionWeights(const KernelTable& k, const float* q, int head_dim, const KvHeadView& kv,
                      const int32_t* slots, int n_slots, const LogitParams& logit, float* scores,
                      const ContextLogits* context = nullptr);

// out[head_dim] = sum_j softmax_j(logit(q·K[slots[j]])) V[slots[j]], the logits reshaped by
// `context` when given.
//   q: [head_dim] f32; scores: scratch of n_slots floats; n_slots > 0.
void AttendOneHead(const KernelTable& k, const float* q, int head_dim, const KvHeadView& kv,
                   const int32_t* slots, int n_slots, const LogitParams& logit, float* scores, float* out,
                   const ContextLogits* context = nullptr);

// One query row of AttendRowsTiled: its q ([head_dim] f32), where its output goes, and which
// of the shared slots it sees: slots[first, n_visible) (a sliding window starts after 0;
// none: its output is zero). When `weights` is set, the row's softmax weights over those
// slots go there too (n_visible - first floats: what an attention recorder reads), at the
// cost of an exp per key.
struct AttentionRow {
  const float* q;
  float* out;
  int n_visible;
  int first = 0;
  float* weights = nullptr;
};

// Each row's AttendOneHead (without a reshaped context), for rows that share one KV head and
// one slot list (the heads of a group over a block of one sequence's tokens): keys are taken
// kAttentionTile at a time, laid out by dimension once for all the rows, and every row's
// logits and weighted values are computed in blocks of rows that share each load of keys and
// values (the table's dot_keys and weighted_sum). Each row's softmax is kept online (its
// running maximum and sum), so no row holds all its scores (unless it asks for its weights).
// Equal to AttendOneHead up to float rounding; a row's result does not depend on the other
// rows, bit for bit.
inline constexpr int kAttentionTile = kKeyTile;
void AttendRowsTiled(const KernelTable& k, const AttentionRow* rows, int n_rows, int head_dim,
                     const KvHeadView& kv, const int32_t* slots, const LogitParams& logit);

}  // namespace kvfuse::kernels
