// qwen2 (Qwen1.5/2/2.5): the llama block with biases on q/k/v and NeoX rotary order.
#include "model/arch/arch.h"

namespace kvfuse::model::arch {

util::Status ConfigureQwen2(const gguf::GgufFile&, HParams& hp) {
  hp.rope_neox = true;
  hp.qkv_bias = true;
  return util::Status::Ok();
}

}  // namespace kvfuse::model::arch
