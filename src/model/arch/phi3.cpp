// phi3 (Phi-3 and Phi-4 mini/medium): the llama block with NeoX rotary order, one fused
// q/k/v matrix (or separate ones, as some converters write) and one fused gate/up matrix,
// and a sliding window on every layer (Phi-3's 2047 tokens; Phi-4: none).
#include "model/arch/arch.h"

namespace kvfuse::model::arch {

util::Status ConfigurePhi3(const gguf::GgufFile& file, HParams& hp) {
  hp.rope_neox = true;
  hp.fused_qkv = true;
  hp.fused_gate_up = true;
  const std::string key = "phi3.attention.sliding_window";
  if (file.Find(key)) {
    KVFUSE_RETURN_IF_ERROR(ReadWindow(file, key, 0, hp.n_swa));
  } else if ((hp.n_layers == 32 || hp.n_layers == 40) && hp.n_ctx_train == 4096) {
    hp.n_swa = 2047;  // Phi-3 mini/medium 4k, converted before GGUF carried the window
  } else if (hp.n_ctx_train == 131072) {
    hp.n_swa = hp.n_layers == 32 ? 262144 : 131072;  // the 128k models' windows cover their context
  } else {
    return util::Status::Error(file.path() + ": phi3 model without '" + key +
                               "': reconvert it with a current llama.cpp converter");
  }
  if (file.FindTensor("rope_factors_long.weight") || file.FindTensor("rope_factors_short.weight"))
    return util::Status::Error(file.path() +
                               ": LongRoPE factors (rope_factors_long/short, the 128k Phi-3 models) are not implemented");
  return util::Status::Ok();
}

}  // namespace kvfuse::model::arch
