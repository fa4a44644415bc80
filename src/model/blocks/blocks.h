// The two halves of a transformer layer, shared by every architecture.
#pragma once

#include "kernels/ops.h"
#include "kv/kv_manager.h"
#include "model/forward_context.h"
#include "model/hparams.h"
#include "model/token_batch.h"
#include "model/weights.h"

namespace kvfuse::model::blocks {

// K (RoPE applied at the batch positions) and V of one layer for every batch token,
// left in ctx.k and ctx.v [batch.size(), n_kv_heads * head_dim]; ctx.norm holds the
// normed input.
void ProjectKv(ForwardContext& ctx, const HParams& hp, const LayerWeights& w,
               const TokenBatch& batch, const float* hidden);

// hidden += Wo · attention(RoPE(Wq·norm(hidden)), K/V cache incl. this batch's tokens)
//   hidden: [batch.size(), n_embd]
void AttentionBlock(ForwardContext& ctx, const HParams& hp, const LayerWeights& w, int layer,
                    const TokenBatch& batch, float* hidden, kv::KvManager& kv);

// hidden += W_down · (silu(W_gate·norm(hidden)) * W_up·norm(hidden))
void FfnBlock(ForwardContext& ctx, const HParams& hp, const LayerWeights& w, int n_tokens,
              float* hidden);

// y[t] += x[t] for every row t, rows split between the pool's threads.
inline void AddRowsInPlace(util::ThreadPool& pool, float* y, const float* x, int n_rows, int width) {
  pool.ParallelFor(n_rows, [&](int64_t t0, int64_t t1) {
    kernels::AddInPlace(y + t0 * width, x + t0 * width, (t1 - t0) * width);
  });
}

}  // namespace kvfuse::model::blocks
