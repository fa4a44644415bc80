// qwen3 (Qwen 3 dense): the qwen2 block without q/k/v biases, with an RMS norm over each
// head of q and of k before RoPE (attn_q_norm, attn_k_norm: one weight per head dimension).
#include "model/arch/arch.h"

namespace kvfuse::model::arch {

bool ConfigureQwen3(HParams& hp) {
  hp.rope_neox = true;
  hp.qk_norm = true;
  return true;
}

}  // namespace kvfuse::model::arch
