// llama family (Llama 2/3, Mistral, SmolLM): RMSNorm, rotary embedding in adjacent
// pairs (the GGUF converter permutes Q/K for it), GQA, SwiGLU, no biases.
#include "model/arch/arch.h"

namespace kvfuse::model::arch {

util::Status ConfigureLlama(const gguf::GgufFile&, HParams& hp) {
  hp.rope_neox = false;
  hp.qkv_bias = false;
  return util::Status::Ok();
}

}  // namespace kvfuse::model::arch
