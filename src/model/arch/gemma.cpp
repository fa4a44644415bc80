// gemma2 and gemma3: the llama block with NeoX rotary order, token embeddings scaled by
// sqrt(n_embd), GeGLU (tanh GELU), RMS norms of the attention and FFN outputs before their
// residual adds, and sliding-window attention on some layers. The GGUF converter adds Gemma's
// "1 +" to every norm weight, so the norms are plain RMS norms here.
//   gemma2: every other layer slides (layers 0, 2, ...), attention and output logits
//           soft-capped (cap * tanh(x / cap)).
//   gemma3: five of every six layers are local: they slide, with their own RoPE base (10000,
//           unscaled); q and
//           k are RMS-normed per head as in qwen3; no soft-capping.
#include <cmath>

#include "model/arch/arch.h"

namespace kvfuse::model::arch {

namespace {

// Both families' 27B models scale queries by 1 / sqrt(n_embd / n_heads) (their
// query_pre_attn_scalar), the others by 1 / sqrt(head_dim); GGUF carries neither, so the
// layer count tells them apart, as in llama.cpp.
void ConfigureGemmaBlock(HParams& hp, int layers_of_27b) {
  hp.rope_neox = true;
  hp.post_norms = true;
  hp.ffn_activation = HParams::Activation::kGeluTanh;
  hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
  const int query_pre_attn_scalar = hp.n_layers == layers_of_27b ? hp.n_embd / hp.n_heads : hp.head_dim;
  hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(query_pre_attn_scalar));
}

}  // namespace

util::Status ConfigureGemma2(const gguf::GgufFile& file, HParams& hp) {
  ConfigureGemmaBlock(hp, 46);
  KVFUSE_RETURN_IF_ERROR(ReadWindow(file, "gemma2.attention.sliding_window", 4096, hp.n_swa));
  hp.swa_period = 2;
  hp.attn_softcap = static_cast<float>(file.GetFloatOr("gemma2.attn_logit_softcapping", 50.0));
  hp.final_softcap = static_cast<float>(file.GetFloatOr("gemma2.final_logit_softcapping", 30.0));
  return util::Status::Ok();
}

util::Status ConfigureGemma3(const gguf::GgufFile& file, HParams& hp) {
  ConfigureGemmaBlock(hp, 62);
  hp.qk_norm = true;
  KVFUSE_RETURN_IF_ERROR(ReadWindow(file, "gemma3.attention.sliding_window", 1024, hp.n_swa));
  hp.swa_period = 6;
  hp.rope_theta_swa = 10000.0f;
  return util::Status::Ok();
}

}  // namespace kvfuse::model::arch
