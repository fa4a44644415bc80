// qwen3 (Qwen 3 dense): the qwen2 block without q/k/v biases, with an RMS norm over each
// head of q and of k before RoPE (attn_q_norm, attn_k_norm: one weight per head dimension).
#include "model/arch/arch.h"

namespace kvfuse::model::arch {

util::Status ConfigureQwen3(const gguf::GgufFile&, HParams& hp) {
  hp.rope_neox = true;
  hp.qk_norm = true;
  return util::Status::Ok();
}

}  // namespace kvfuse::model::arch
