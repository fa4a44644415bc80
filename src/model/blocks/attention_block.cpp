#include <algorithm>
#include <cmath>
#include <map>

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/blocks/blocks.h"

namespace kvfuse::model::blocks {

namespace {

// qwen3, gemma3: each head of each row RMS-normed in place with `weight` ([head_dim]); nothing
// without one.
void NormHeads(util::ThreadPool& pool, float* rows, int n_rows, int n_heads, int head_dim, const float* weight, float eps) {
  if (!weight) return;
  pool.ParallelFor(static_cast<int64_t>(n_rows) * n_heads, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* head = rows + i * head_dim;
      kernels::RmsNorm(head, weight, head_dim, eps, head);
    }
  });
}

void AddBias(float* rows, const float* bias, int n_rows, int width) {
  if (!bias) return;
  for (int t = 0; t < n_rows; ++t) kernels::AddInPlace(rows + static_cast<size_t>(t) * width, bias, width);
}

// The last position token t attends to: its own (causal), or its attend limit.
int32_t AttendLimit(const TokenBatch& batch, int t) {
  return batch.attend_limits.empty() ? batch.positions[t] : batch.attend_limits[t];
}

// The slots of each sequence of the batch by position, up to the last position one of its
// tokens attends to: a token that attends to positions <= p reads the first p + 1.
std::map<int32_t, std::vector<int32_t>> VisibleSlots(const TokenBatch& batch, const kv::KvManager& kv) {
  std::map<int32_t, int32_t> n_visible;
  for (int t = 0; t < batch.size(); ++t) {
    const int32_t limit = AttendLimit(batch, t);
    int32_t& n = n_visible[batch.seq_ids[t]];
    n = std::max(n, std::min(limit + 1, kv.capacity(batch.seq_ids[t])));
  }
  std::map<int32_t, std::vector<int32_t>> visible;
  for (const auto& [seq, n] : n_visible) visible[seq] = kv.SlotsOf(seq, n);
  return visible;
}

// How many of its sequence's visible slots token t attends to.
int VisibleCount(const TokenBatch& batch, int t, const std::vector<int32_t>& visible) {
  return std::min(static_cast<int>(visible.size()), AttendLimit(batch, t) + 1);
}

// The first visible slot token t attends to: 0, or on a sliding layer the window's start,
// anchored at the token's position (also where a bottom-right mask lets it see past it).
int FirstVisible(const HParams& hp, int layer, const TokenBatch& batch, int t) {
  return SlidingLayer(hp, layer) ? std::max(0, batch.positions[t] - hp.n_swa + 1) : 0;
}

// KV head h of `layer` as the attention kernels read it.
kernels::KvHeadView HeadView(const kv::KvCache& kv, int layer, int h) {
  return {kv.k_head(layer, h), kv.v_head(layer, h), static_cast<size_t>(kv.geometry().head_dim)};
}

// Tokens of one sequence attended together by AttendRowsTiled: all their rows (kTokenBlock
// tokens x the heads of a KV group) read a tile of keys while it is in cache.
constexpr int kTokenBlock = 16;

// Adds the weights of batch row t, head h, over the positions [first, first + n) (visible
// slot j holds position j) to the recorder's mass of their segments, if it records row t.
void Record(AttentionRecorder& rec, int t, int h, int first, const float* weights, int n) {
  if (rec.RowOf(t) < 0) return;
  const auto row = static_cast<size_t>(rec.RowOf(t));
  float* mass = rec.mass.data() + (row * rec.n_heads + h) * rec.n_segments;
  const int end = std::min(first + n, static_cast<int>(rec.segment_of_pos.size()));
  for (int pos = first; pos < end; ++pos)
    if (const int32_t seg = rec.segment_of_pos[pos]; seg >= 0) mass[seg] += weights[pos - first];
}

// The attention of every head of the tokens without a reshaped context into ctx.attn, tiled,
// and into ctx.recorder when one is set: work items are (sequence, block of its tokens, KV
// head). A row's result does not depend on the other rows of its item.
void AttendTiled(ForwardContext& ctx, const HParams& hp, int layer, const TokenBatch& batch,
                 const std::map<int32_t, std::vector<int32_t>>& visible, const kv::KvCache& kv,
                 const kernels::LogitParams& logit, const std::vector<const kernels::ContextLogits*>& context) {
  const int q_dim = hp.n_heads * hp.head_dim, group = hp.n_heads / hp.n_kv_heads;
  std::map<int32_t, std::vector<int>> tokens_of;  // batch indices per sequence, in batch order
  for (int t = 0; t < batch.size(); ++t)
    if (!context[t]) tokens_of[batch.seq_ids[t]].push_back(t);
  struct Item {
    const std::vector<int>* tokens;
    size_t begin;
    int kv_head;
    int64_t keys;  // the keys its rows read, about: what it costs
  };
  std::vector<Item> items;
  for (const auto& [seq, tokens] : tokens_of)
    for (size_t b = 0; b < tokens.size(); b += kTokenBlock) {
      int64_t keys = 0;
      for (size_t i = b; i < std::min(b + kTokenBlock, tokens.size()); ++i)
        keys += VisibleCount(batch, tokens[i], visible.at(seq)) - FirstVisible(hp, layer, batch, tokens[i]);
      for (int h = 0; h < hp.n_kv_heads; ++h) items.push_back({&tokens, b, h, keys});
    }
  // Costliest first, taken by whichever thread is free: a prompt's late tokens read many
  // times the keys of its early ones, so equal shares of the items left one thread waiting.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.keys > b.keys; });
  AttentionRecorder* rec = ctx.recorder;
  ctx.pool.ParallelForEach(static_cast<int64_t>(items.size()), [&](int64_t i0, int64_t i1) {
    std::vector<kernels::AttentionRow> rows;  // token by token, the group's heads of each
    std::vector<float> weights;               // the rows' weights, when recorded
    for (int64_t i = i0; i < i1; ++i) {
      const Item& item = items[i];
      const std::vector<int32_t>& vis = visible.at(batch.seq_ids[(*item.tokens)[item.begin]]);
      rows.clear();
      size_t n_weights = 0;
      for (size_t b = item.begin; b < std::min(item.begin + kTokenBlock, item.tokens->size()); ++b) {
        const int t = (*item.tokens)[b];
        const int n_visible = VisibleCount(batch, t, vis), first = FirstVisible(hp, layer, batch, t);
        for (int h = item.kv_head * group; h < (item.kv_head + 1) * group; ++h) {
          const size_t at = static_cast<size_t>(t) * q_dim + static_cast<size_t>(h) * hp.head_dim;
          rows.push_back({ctx.q.data() + at, ctx.attn.data() + at, n_visible, first});
          if (rec && rec->RowOf(t) >= 0) n_weights += std::max(n_visible - first, 0);
        }
      }
      if (n_weights > 0) {  // each recorded row's weights at the sum of the widths before it
        weights.resize(n_weights);
        for (size_t r = 0, at = 0; r < rows.size(); ++r)
          if (rec->RowOf((*item.tokens)[item.begin + r / group]) >= 0) {
            rows[r].weights = weights.data() + at;
            at += std::max(rows[r].n_visible - rows[r].first, 0);
          }
      }
      kernels::AttendRowsTiled(*ctx.kernels, rows.data(), static_cast<int>(rows.size()), hp.head_dim,
                               HeadView(kv, layer, item.kv_head), vis.data(), logit);
      if (rec)  // (t, h) is this thread's alone
        for (size_t r = 0; r < rows.size(); ++r) {
          if (!rows[r].weights) continue;
          const int t = (*item.tokens)[item.begin + r / group], h = item.kv_head * group + static_cast<int>(r % group);
          Record(*rec, t, h, rows[r].first, rows[r].weights, rows[r].n_visible - rows[r].first);
        }
    }
  });
}

// One row at a time: the attention of the tokens whose logits context[t] reshapes into
// ctx.attn, and into ctx.recorder when one is set.
void AttendRowByRow(ForwardContext& ctx, const HParams& hp, int layer, const TokenBatch& batch,
                    const std::map<int32_t, std::vector<int32_t>>& visible, const kv::KvCache& kv,
                    const kernels::LogitParams& logit, const std::vector<const kernels::ContextLogits*>& context) {
  const kernels::KernelTable& k = *ctx.kernels;
  const int n = batch.size(), head_dim = hp.head_dim, q_dim = hp.n_heads * head_dim;
  const int group = hp.n_heads / hp.n_kv_heads;
  ctx.pool.ParallelFor(static_cast<int64_t>(n) * hp.n_heads, [&](int64_t i0, int64_t i1) {
    std::vector<float> scores;
    for (int64_t i = i0; i < i1; ++i) {
      const int t = static_cast<int>(i / hp.n_heads), h = static_cast<int>(i % hp.n_heads);
      if (!context[t]) continue;
      const std::vector<int32_t>& vis = visible.at(batch.seq_ids[t]);
      // The row sees visible slots [first, first + n_seen): scores[j] is slot first + j's.
      const int first = FirstVisible(hp, layer, batch, t), n_seen = VisibleCount(batch, t, vis) - first;
      float* out = ctx.attn.data() + static_cast<size_t>(t) * q_dim + h * head_dim;
      if (n_seen <= 0) {
        std::fill(out, out + head_dim, 0.0f);
        continue;
      }
      scores.resize(n_seen);
      const float* q = ctx.q.data() + static_cast<size_t>(t) * q_dim + h * head_dim;
      kernels::ContextLogits shifted = *context[t];
      shifted.begin -= first;
      shifted.end -= first;
      kernels::AttendOneHead(k, q, head_dim, HeadView(kv, layer, h / group), vis.data() + first, n_seen, logit,
                             scores.data(), out, &shifted);
      if (ctx.recorder) Record(*ctx.recorder, t, h, first, scores.data(), n_seen);  // (t, h) is this thread's alone
    }
  });
}

}  // namespace

void ProjectKv(ForwardContext& ctx, const HParams& hp, const LayerWeights& w, int layer,
               const TokenBatch& batch, const float* hidden) {
  const kernels::KernelTable& k = *ctx.kernels;
  const int n = batch.size();
  const int n_embd = hp.n_embd, kv_dim = hp.n_kv_heads * hp.head_dim;
  ctx.norm.resize(static_cast<size_t>(n) * n_embd);
  ctx.k.resize(static_cast<size_t>(n) * kv_dim);
  ctx.v.resize(static_cast<size_t>(n) * kv_dim);
  NormRows(ctx.pool, hidden, w.attn_norm, n, hp, ctx.norm.data());
  kernels::MatMul(k, ctx.pool, w.wk, ctx.norm.data(), n, ctx.k.data(), ctx.act_scratch);
  kernels::MatMul(k, ctx.pool, w.wv, ctx.norm.data(), n, ctx.v.data(), ctx.act_scratch);
  AddBias(ctx.k.data(), w.bk, n, kv_dim);
  AddBias(ctx.v.data(), w.bv, n, kv_dim);
  NormHeads(ctx.pool, ctx.k.data(), n, hp.n_kv_heads, hp.head_dim, w.k_norm, hp.rms_eps);
  const kernels::RopeParams rope = RopeOf(hp, layer);
  ctx.pool.ParallelFor(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      kernels::Rope(ctx.k.data() + t * kv_dim, hp.n_kv_heads, static_cast<float>(batch.positions[t]), rope);
  });
}

void AttentionBlock(ForwardContext& ctx, const HParams& hp, const LayerWeights& w, int layer,
                    const TokenBatch& batch, float* hidden, kv::KvManager& kv_manager) {
  kv::KvCache& kv = kv_manager.cache();
  const kernels::KernelTable& k = *ctx.kernels;
  const int n = batch.size();
  const int n_embd = hp.n_embd, head_dim = hp.head_dim;
  const int q_dim = hp.n_heads * head_dim, kv_dim = hp.n_kv_heads * head_dim;

  ProjectKv(ctx, hp, w, layer, batch, hidden);  // also leaves norm(hidden) in ctx.norm
  ctx.q.resize(static_cast<size_t>(n) * q_dim);
  ctx.attn.resize(static_cast<size_t>(n) * q_dim);
  ctx.proj.resize(static_cast<size_t>(n) * n_embd);
  kernels::MatMul(k, ctx.pool, w.wq, ctx.norm.data(), n, ctx.q.data(), ctx.act_scratch);
  AddBias(ctx.q.data(), w.bq, n, q_dim);
  NormHeads(ctx.pool, ctx.q.data(), n, hp.n_heads, head_dim, w.q_norm, hp.rms_eps);

  const kernels::RopeParams rope = RopeOf(hp, layer);
  ctx.pool.ParallelFor(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float pos = static_cast<float>(batch.positions[t]);
      kernels::Rope(ctx.q.data() + t * q_dim, hp.n_heads, pos, rope);
      const int32_t slot = batch.kv_slots[t];
      for (int h = 0; h < hp.n_kv_heads; ++h) {
        const size_t at = static_cast<size_t>(t) * kv_dim + static_cast<size_t>(h) * head_dim;
        k.f32_to_f16(ctx.k.data() + at, kv.k(layer, h, slot), head_dim);
        k.f32_to_f16(ctx.v.data() + at, kv.v(layer, h, slot), head_dim);
      }
    }
  });

  const std::map<int32_t, std::vector<int32_t>> visible = VisibleSlots(batch, kv_manager);

  const kernels::LogitParams logit{AttentionScale(hp), hp.attn_softcap};
  // A token after its sequence's reshaped range attends to it reshaped (visible slot j holds
  // position j, so the range's positions are its indices).
  std::vector<kernels::ContextLogits> contexts(n);
  std::vector<const kernels::ContextLogits*> context(n, nullptr);
  for (int t = 0; t < n; ++t)
    if (const kv::ContextReshape* r = kv_manager.ContextReshapeOf(batch.seq_ids[t]);
        r && batch.positions[t] >= r->end && (r->temperature != 1.0f || r->lse_scale != 1.0f)) {  // 1, 1: none
      contexts[t] = {r->begin, r->end, r->temperature, r->lse_scale};
      context[t] = &contexts[t];
    }
  // A reshaped row needs its whole logit row: one row at a time; every other row is tiled,
  // whatever its batchmates need.
  AttendTiled(ctx, hp, layer, batch, visible, kv, logit, context);
  if (std::any_of(context.begin(), context.end(), [](const auto* c) { return c != nullptr; }))
    AttendRowByRow(ctx, hp, layer, batch, visible, kv, logit, context);
  kernels::MatMul(k, ctx.pool, w.wo, ctx.attn.data(), n, ctx.proj.data(), ctx.act_scratch);
  NormRows(ctx.pool, ctx.proj.data(), w.attn_post_norm, n, hp, ctx.proj.data());
  AddRowsInPlace(ctx.pool, hidden, ctx.proj.data(), n, n_embd);
}

}  // namespace kvfuse::model::blocks
