// qwen2 (Qwen1.5/2/2.5): the llama block with biases on q/k/v and NeoX rotary order.
#include "model/arch/arch.h"

namespace kvfuse::model::arch {

bool ConfigureQwen2(HParams& hp) {
  hp.rope_neox = true;
  hp.qkv_bias = true;
  return true;
}

}  // namespace kvfuse::model::arch
