#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/blocks/blocks.h"

namespace kvfuse::model::blocks {

void FfnBlock(ForwardContext& ctx, const HParams& hp, const LayerWeights& w, int n_tokens,
              float* hidden) {
  const kernels::KernelTable& k = *ctx.kernels;
  const size_t n = static_cast<size_t>(n_tokens);
  ctx.norm.resize(n * hp.n_embd);
  ctx.gate.resize(n * hp.n_ff);
  ctx.up.resize(n * hp.n_ff);
  ctx.proj.resize(n * hp.n_embd);
  NormRows(ctx.pool, hidden, w.ffn_norm, n_tokens, hp, ctx.norm.data());
  kernels::MatMul(k, ctx.pool, w.w_gate, ctx.norm.data(), n_tokens, ctx.gate.data(), ctx.act_scratch);
  kernels::MatMul(k, ctx.pool, w.w_up, ctx.norm.data(), n_tokens, ctx.up.data(), ctx.act_scratch);
  const auto gated = hp.ffn_activation == HParams::Activation::kGeluTanh ? kernels::GeGlu : kernels::SwiGlu;
  ctx.pool.ParallelFor(n_tokens, [&](int64_t t0, int64_t t1) {
    gated(k, ctx.gate.data() + t0 * hp.n_ff, ctx.up.data() + t0 * hp.n_ff, (t1 - t0) * hp.n_ff);
  });
  kernels::MatMul(k, ctx.pool, w.w_down, ctx.gate.data(), n_tokens, ctx.proj.data(), ctx.act_scratch);
  NormRows(ctx.pool, ctx.proj.data(), w.ffn_post_norm, n_tokens, hp, ctx.proj.data());
  AddRowsInPlace(ctx.pool, hidden, ctx.proj.data(), n_tokens, hp.n_embd);
}

}  // namespace kvfuse::model::blocks
