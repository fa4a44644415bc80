#include "model/weights.h"

#include <cmath>

namespace kvfuse::model {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

class TensorFinder {
 public:
  // Vector copies what it finds into `vectors`.
  TensorFinder(const gguf::GgufFile& file, std::vector<std::vector<float>>& vectors) : file_(file), vectors_(vectors) {}

  Status Matrix(const std::string& name, int64_t n_cols, int64_t n_rows, kernels::WeightView& out) {
    const gguf::TensorInfo* t = file_.FindTensor(name);
    if (!t) return Status::Error(file_.path() + ": missing tensor '" + name + "'");
    if (t->dims.size() != 2 || t->dims[0] != n_cols || (n_rows > 0 && t->dims[1] != n_rows))
      return Status::Error(StrFormat("%s: tensor '%s' has shape %s, expected [%lld, %lld]",
                                     file_.path().c_str(), name.c_str(), Shape(*t).c_str(),
                                     static_cast<long long>(n_cols), static_cast<long long>(n_rows)));
    out = {t->type, t->dims[0], t->dims[1], t->data};
    return Status::Ok();
  }

  Status Vector(const std::string& name, int64_t n, const float*& out, bool optional = false) {
    const gguf::TensorInfo* t = file_.FindTensor(name);
    if (!t) {
      if (optional) return Status::Ok();
      return Status::Error(file_.path() + ": missing tensor '" + name + "'");
    }
    if (t->type != tensor::DType::kF32 || t->n_elements() != n)
      return Status::Error(StrFormat("%s: tensor '%s' must be f32 with %lld elements",
                                     file_.path().c_str(), name.c_str(), static_cast<long long>(n)));
    std::vector<float>& copy = vectors_.emplace_back(n);
    KVFUSE_RETURN_IF_ERROR(file_.Read(t->data, n * sizeof(float), copy.data()));
    out = copy.data();
    return Status::Ok();
  }

 private:
  static std::string Shape(const gguf::TensorInfo& t) {
    std::string s = "[";
    for (size_t i = 0; i < t.dims.size(); ++i) s += (i ? ", " : "") + std::to_string(t.dims[i]);
    return s + "]";
  }
  const gguf::GgufFile& file_;
  std::vector<std::vector<float>>& vectors_;
};

// Llama 3's RoPE frequency factors (llama.cpp's rope_freqs.weight: one divisor per rotated
// pair), copied into hp.rope_freq_factors; none: hp is left as it is.
Status ReadRopeFreqFactors(const gguf::GgufFile& file, TensorFinder& find, HParams& hp) {
  const float* factors = nullptr;
  KVFUSE_RETURN_IF_ERROR(find.Vector("rope_freqs.weight", hp.rope_dim / 2, factors, /*optional=*/true));
  if (!factors) return Status::Ok();
  hp.rope_freq_factors.assign(factors, factors + hp.rope_dim / 2);
  for (float f : hp.rope_freq_factors)
    if (!(f > 0) || !std::isfinite(f))
      return Status::Error(StrFormat("%s: tensor 'rope_freqs.weight' holds %g; RoPE frequency factors must be positive",
                                     file.path().c_str(), f));
  return Status::Ok();
}

// Rows [begin, end) of `m`, a view of their own.
kernels::WeightView Rows(const kernels::WeightView& m, int64_t begin, int64_t end) {
  kernels::WeightView part = m;
  part.data = m.row(begin);
  part.n_rows = end - begin;
  return part;
}

}  // namespace

Result<ModelWeights> LoadWeights(const gguf::GgufFile& file, HParams& hp) {
  ModelWeights w;
  TensorFinder find(file, w.vectors);
  KVFUSE_RETURN_IF_ERROR(find.Matrix("token_embd.weight", hp.n_embd, 0, w.token_embd));
  hp.n_vocab = static_cast<int>(w.token_embd.n_rows);
  KVFUSE_RETURN_IF_ERROR(find.Vector("output_norm.weight", hp.n_embd, w.output_norm));
  if (file.FindTensor("output.weight")) {
    KVFUSE_RETURN_IF_ERROR(find.Matrix("output.weight", hp.n_embd, hp.n_vocab, w.output));
  } else {
    w.output = w.token_embd;
  }
  KVFUSE_RETURN_IF_ERROR(ReadRopeFreqFactors(file, find, hp));
  const int64_t q_dim = static_cast<int64_t>(hp.n_heads) * hp.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(hp.n_kv_heads) * hp.head_dim;
  w.layers.resize(hp.n_layers);
  for (int il = 0; il < hp.n_layers; ++il) {
    LayerWeights& l = w.layers[il];
    const std::string p = "blk." + std::to_string(il) + ".";
    KVFUSE_RETURN_IF_ERROR(find.Vector(p + "attn_norm.weight", hp.n_embd, l.attn_norm));
    if (hp.fused_qkv && file.FindTensor(p + "attn_qkv.weight")) {
      kernels::WeightView qkv;
      KVFUSE_RETURN_IF_ERROR(find.Matrix(p + "attn_qkv.weight", hp.n_embd, q_dim + 2 * kv_dim, qkv));
      l.wq = Rows(qkv, 0, q_dim);
      l.wk = Rows(qkv, q_dim, q_dim + kv_dim);
      l.wv = Rows(qkv, q_dim + kv_dim, q_dim + 2 * kv_dim);
    } else {
      KVFUSE_RETURN_IF_ERROR(find.Matrix(p + "attn_q.weight", hp.n_embd, q_dim, l.wq));
      KVFUSE_RETURN_IF_ERROR(find.Matrix(p + "attn_k.weight", hp.n_embd, kv_dim, l.wk));
      KVFUSE_RETURN_IF_ERROR(find.Matrix(p + "attn_v.weight", hp.n_embd, kv_dim, l.wv));
    }
    KVFUSE_RETURN_IF_ERROR(find.Matrix(p + "attn_output.weight", q_dim, hp.n_embd, l.wo));
    if (hp.post_norms) {
      KVFUSE_RETURN_IF_ERROR(find.Vector(p + "post_attention_norm.weight", hp.n_embd, l.attn_post_norm));
      KVFUSE_RETURN_IF_ERROR(find.Vector(p + "post_ffw_norm.weight", hp.n_embd, l.ffn_post_norm));
    }
    const bool optional_bias = !hp.qkv_bias;
    KVFUSE_RETURN_IF_ERROR(find.Vector(p + "attn_q.bias", q_dim, l.bq, optional_bias));
    KVFUSE_RETURN_IF_ERROR(find.Vector(p + "attn_k.bias", kv_dim, l.bk, optional_bias));
    KVFUSE_RETURN_IF_ERROR(find.Vector(p + "attn_v.bias", kv_dim, l.bv, optional_bias));
    if (hp.qk_norm) {
      KVFUSE_RETURN_IF_ERROR(find.Vector(p + "attn_q_norm.weight", hp.head_dim, l.q_norm));
      KVFUSE_RETURN_IF_ERROR(find.Vector(p + "attn_k_norm.weight", hp.head_dim, l.k_norm));
    }
    KVFUSE_RETURN_IF_ERROR(find.Vector(p + "ffn_norm.weight", hp.n_embd, l.ffn_norm));
    if (hp.fused_gate_up) {
      kernels::WeightView gate_up;
      KVFUSE_RETURN_IF_ERROR(find.Matrix(p + "ffn_up.weight", hp.n_embd, 2 * int64_t{hp.n_ff}, gate_up));
      l.w_gate = Rows(gate_up, 0, hp.n_ff);
      l.w_up = Rows(gate_up, hp.n_ff, 2 * int64_t{hp.n_ff});
    } else {
      KVFUSE_RETURN_IF_ERROR(find.Matrix(p + "ffn_gate.weight", hp.n_embd, hp.n_ff, l.w_gate));
      KVFUSE_RETURN_IF_ERROR(find.Matrix(p + "ffn_up.weight", hp.n_embd, hp.n_ff, l.w_up));
    }
    KVFUSE_RETURN_IF_ERROR(find.Matrix(p + "ffn_down.weight", hp.n_ff, hp.n_embd, l.w_down));
  }
  return w;
}

}  // namespace kvfuse::model
