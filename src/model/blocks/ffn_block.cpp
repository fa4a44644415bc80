#include <algorithm>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/blocks/blocks.h"

namespace kvfuse::model::blocks {

// A long batch's [tokens, n_ff] intermediates are most of its scratch (32 MB for 512 tokens of
// Llama-3.2-1B): its rows go through the FFN kFfnTokens at a time. No result changes, as each
// product is fixed per (weight row, token) whatever the batch.
constexpr int kFfnTokens = 256;

void FfnBlock(ForwardContext& ctx, const HParams& hp, const LayerWeights& w, int n_tokens,
              float* hidden) {
  const kernels::KernelTable& k = *ctx.kernels;
  const size_t n = static_cast<size_t>(n_tokens);
  ctx.norm.resize(n * hp.n_embd);
  ctx.gate.resize(static_cast<size_t>(std::min(n_tokens, kFfnTokens)) * hp.n_ff);
  ctx.up.resize(ctx.gate.size());
  ctx.proj.resize(n * hp.n_embd);
  NormRows(ctx.pool, hidden, w.ffn_norm, n_tokens, hp, ctx.norm.data());
  const auto gated = hp.ffn_activation == HParams::Activation::kGeluTanh ? kernels::GeGlu : kernels::SwiGlu;
  for (int t0 = 0; t0 < n_tokens; t0 += kFfnTokens) {
    const int m = std::min(kFfnTokens, n_tokens - t0);
    const float* in = ctx.norm.data() + static_cast<size_t>(t0) * hp.n_embd;
    kernels::MatMul(k, ctx.pool, w.w_gate, in, m, ctx.gate.data(), ctx.act_scratch);
    kernels::MatMul(k, ctx.pool, w.w_up, in, m, ctx.up.data(), ctx.act_scratch);
    ctx.pool.ParallelFor(m, [&](int64_t r0, int64_t r1) {
      gated(k, ctx.gate.data() + r0 * hp.n_ff, ctx.up.data() + r0 * hp.n_ff, (r1 - r0) * hp.n_ff);
    });
    kernels::MatMul(k, ctx.pool, w.w_down, ctx.gate.data(), m, ctx.proj.data() + static_cast<size_t>(t0) * hp.n_embd,
                    ctx.act_scratch);
  }
  NormRows(ctx.pool, ctx.proj.data(), w.ffn_post_norm, n_tokens, hp, ctx.proj.data());
  AddRowsInPlace(ctx.pool, hidden, ctx.proj.data(), n_tokens, hp.n_embd);
}

}  // namespace kvfuse::model::blocks
