// The two halves of a transformer layer, shared by every architecture.
#pragma once

#include "kernels/ops.h"
#include "kv/kv_manager.h"
#include "model/forward_context.h"
#include "model/hparams.h"
#include "model/token_batch.h"
#include "model/weights.h"

namespace kvfuse::model::blocks {

// K (RoPE applied at the batch positions) and V of layer `layer` (weights w) for every
// batch token, left in ctx.k and ctx.v [batch.size(), n_kv_heads * head_dim]; ctx.norm holds
// the normed input.
void ProjectKv(ForwardContext& ctx, const HParams& hp, const LayerWeights& w, int layer,
               const TokenBatch& batch, const float* hidden);

// hidden += post_norm(Wo · attention(RoPE(Wq·norm(hidden)), K/V cache incl. this batch's
// tokens)), post_norm where the layer has one (w.attn_post_norm)
//   hidden: [batch.size(), n_embd]
void AttentionBlock(ForwardContext& ctx, const HParams& hp, const LayerWeights& w, int layer,
                    const TokenBatch& batch, float* hidden, kv::KvManager& kv);

// hidden += post_norm(W_down · (act(W_gate·norm(hidden)) * W_up·norm(hidden))), act SiLU or
// tanh GELU by hp.ffn_activation, post_norm where the layer has one
void FfnBlock(ForwardContext& ctx, const HParams& hp, const LayerWeights& w, int n_tokens,
              float* hidden);

// y[t] += x[t] for every row t, rows split between the pool's threads.
inline void AddRowsInPlace(util::ThreadPool& pool, float* y, const float* x, int n_rows, int width) {
  pool.ParallelFor(n_rows, [&](int64_t t0, int64_t t1) {
    kernels::AddInPlace(y + t0 * width, x + t0 * width, (t1 - t0) * width);
  });
}

// out[t] = RmsNorm(in[t]) with `weight` for each of n_rows rows of hp.n_embd, rows split between
// the pool's threads; out may be in. Nothing without a weight (a layer without that norm).
inline void NormRows(util::ThreadPool& pool, const float* in, const float* weight, int n_rows, const HParams& hp,
                     float* out) {
  if (!weight) return;
  pool.ParallelFor(n_rows, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) kernels::RmsNorm(in + t * hp.n_embd, weight, hp.n_embd, hp.rms_eps, out + t * hp.n_embd);
  });
}

}  // namespace kvfuse::model::blocks
