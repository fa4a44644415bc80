#include "model/hparams.h"

#include <cmath>

#include "model/arch/arch.h"

namespace kvfuse::model {

using util::Result;
using util::Status;

namespace {

Status ReadPositiveInt(const gguf::GgufFile& file, const std::string& key, int& out) {
  Result<int64_t> v = file.GetInt(key);
  if (!v.ok()) return v.status();
  if (v.value() <= 0 || v.value() > (1 << 30))
    return Status::Error(file.path() + ": metadata '" + key + "' = " + std::to_string(v.value()) +
                         " is out of range");
  out = static_cast<int>(v.value());
  return Status::Ok();
}

// Reads linear RoPE scaling into hp.rope_freq_scale. Other variants are refused: run as plain
// RoPE, the model's logits would silently differ from what it was trained to give.
Status ReadRopeScaling(const gguf::GgufFile& file, const std::string& p, HParams& hp) {
  // A factor without a type is linear scaling, as is the older rope.scale_linear; 0 and 1 ask
  // for nothing.
  std::string type = "linear";
  if (file.Find(p + "rope.scaling.type")) {
    const Result<std::string> named = file.GetString(p + "rope.scaling.type");
    if (!named.ok()) return named.status();
    type = named.value();
  }
  const double factor = file.GetFloatOr(p + "rope.scaling.factor", file.GetFloatOr(p + "rope.scale_linear", 1.0));
  if (type == "none" || factor == 1.0 || factor == 0.0) return Status::Ok();
  if (type != "linear")
    return Status::Error(util::StrFormat("%s: RoPE scaling '%s' (factor %g) is not implemented (none and linear are)",
                                         file.path().c_str(), type.c_str(), factor));
  if (!(factor > 0) || !std::isfinite(factor))
    return Status::Error(util::StrFormat("%s: RoPE scaling factor %g must be positive", file.path().c_str(), factor));
  hp.rope_freq_scale = static_cast<float>(1.0 / factor);
  return Status::Ok();
}

}  // namespace

Result<HParams> ReadHParams(const gguf::GgufFile& file) {
  HParams hp;
  Result<std::string> arch = file.GetString("general.architecture");
  if (!arch.ok()) return arch.status();
  hp.arch = arch.value();
  const arch::Configure configure = arch::ConfigureFor(hp.arch);
  if (!configure)
    return Status::Error(file.path() + ": architecture '" + hp.arch + "' is not supported (" +
                         arch::KnownArchitectures() + " are)");
  const std::string p = hp.arch + ".";
  KVFUSE_RETURN_IF_ERROR(ReadPositiveInt(file, p + "embedding_length", hp.n_embd));
  KVFUSE_RETURN_IF_ERROR(ReadPositiveInt(file, p + "block_count", hp.n_layers));
  KVFUSE_RETURN_IF_ERROR(ReadPositiveInt(file, p + "feed_forward_length", hp.n_ff));
  KVFUSE_RETURN_IF_ERROR(ReadPositiveInt(file, p + "attention.head_count", hp.n_heads));
  hp.n_kv_heads = hp.n_heads;
  if (file.Find(p + "attention.head_count_kv"))
    KVFUSE_RETURN_IF_ERROR(ReadPositiveInt(file, p + "attention.head_count_kv", hp.n_kv_heads));
  hp.n_ctx_train = static_cast<int>(file.GetIntOr(p + "context_length", 2048));
  hp.rope_theta = static_cast<float>(file.GetFloatOr(p + "rope.freq_base", 10000.0));
  hp.rms_eps = static_cast<float>(file.GetFloatOr(p + "attention.layer_norm_rms_epsilon", 1e-5));
  if (hp.n_embd % hp.n_heads != 0 || hp.n_heads % hp.n_kv_heads != 0)
    return Status::Error(file.path() + ": head counts do not divide the embedding width");
  hp.head_dim = hp.n_embd / hp.n_heads;
  if (file.Find(p + "attention.key_length"))
    KVFUSE_RETURN_IF_ERROR(ReadPositiveInt(file, p + "attention.key_length", hp.head_dim));
  hp.rope_dim = hp.head_dim;
  if (file.Find(p + "rope.dimension_count"))
    KVFUSE_RETURN_IF_ERROR(ReadPositiveInt(file, p + "rope.dimension_count", hp.rope_dim));
  if (hp.rope_dim > hp.head_dim || hp.rope_dim % 2 != 0)
    return Status::Error(file.path() + ": rope.dimension_count must be even and at most the head size");
  if (!(hp.rope_theta > 0) || !(hp.rms_eps > 0))
    return Status::Error(file.path() + ": rope.freq_base and layer_norm_rms_epsilon must be positive");
  KVFUSE_RETURN_IF_ERROR(ReadRopeScaling(file, p, hp));
  KVFUSE_RETURN_IF_ERROR(configure(file, hp));
  if (!(hp.attn_softcap >= 0) || !(hp.final_softcap >= 0) || !std::isfinite(hp.attn_softcap) ||
      !std::isfinite(hp.final_softcap))
    return Status::Error(file.path() + ": soft-capping values must be finite and not negative");
  return hp;
}

bool LocalLayer(const HParams& hp, int layer) {
  return hp.swa_period == 0 || (layer + 1) % hp.swa_period != 0;
}

bool SlidingLayer(const HParams& hp, int layer) { return hp.n_swa > 0 && LocalLayer(hp, layer); }

float AttentionScale(const HParams& hp) {
  return hp.attn_scale > 0 ? hp.attn_scale : 1.0f / std::sqrt(static_cast<float>(hp.head_dim));
}

kernels::RopeParams RopeOf(const HParams& hp, int layer) {
  if (hp.rope_theta_swa > 0 && LocalLayer(hp, layer))
    return {hp.head_dim, hp.rope_dim, hp.rope_theta_swa, hp.rope_neox, 1.0f, nullptr};
  return {hp.head_dim, hp.rope_dim, hp.rope_theta, hp.rope_neox, hp.rope_freq_scale,
          hp.rope_freq_factors.empty() ? nullptr : hp.rope_freq_factors.data()};
}

}  // namespace kvfuse::model
