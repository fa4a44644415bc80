#include "reference_forward.h"

#include <cmath>
#include <stdexcept>

#include "gguf/gguf_reader.h"
#include "kernels/quantize.h"

namespace kvfuse::model::testing {

namespace {

using Matrix = std::vector<std::vector<double>>;  // [rows][cols]

Matrix LoadMatrix(const gguf::GgufFile& f, const std::string& name) {
  const gguf::TensorInfo* t = f.FindTensor(name);
  if (!t) throw std::runtime_error("missing " + name);
  const int64_t cols = t->dims[0], rows = t->n_rows();
  Matrix m(rows, std::vector<double>(cols));
  std::vector<float> row(cols);
  const size_t row_bytes = tensor::RowBytes(t->type, cols);
  for (int64_t r = 0; r < rows; ++r) {
    kernels::DequantizeRow(t->type, t->data + r * row_bytes, row.data(), cols);
    for (int64_t c = 0; c < cols; ++c) m[r][c] = row[c];
  }
  return m;
}

std::vector<double> LoadVector(const gguf::GgufFile& f, const std::string& name) {
  const gguf::TensorInfo* t = f.FindTensor(name);
  if (!t) return {};
  const float* p = reinterpret_cast<const float*>(t->data);
  return std::vector<double>(p, p + t->n_elements());
}

std::vector<double> MatVec(const Matrix& m, const std::vector<double>& x) {
  std::vector<double> y(m.size());
  for (size_t r = 0; r < m.size(); ++r) {
    double s = 0;
    for (size_t c = 0; c < x.size(); ++c) s += m[r][c] * x[c];
    y[r] = s;
  }
  return y;
}

std::vector<double> RmsNorm(const std::vector<double>& x, const std::vector<double>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double scale = 1.0 / std::sqrt(ss / x.size() + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
  return y;
}

// Pair i turns by pos * freq_scale * theta^(-2i/head_dim) / factors[i] (Llama 3's factors;
// none: 1).
void ApplyRope(std::vector<double>& v, int n_heads, int head_dim, int pos, double theta, bool neox,
               double freq_scale, const std::vector<double>& factors) {
  for (int h = 0; h < n_heads; ++h) {
    for (int i = 0; i < head_dim / 2; ++i) {
      const double angle = pos * freq_scale * std::pow(theta, -2.0 * i / head_dim) / (factors.empty() ? 1.0 : factors[i]);
      const int a = h * head_dim + (neox ? i : 2 * i);
      const int b = h * head_dim + (neox ? i + head_dim / 2 : 2 * i + 1);
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
      v[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
    }
  }
}

void AddBias(std::vector<double>& v, const std::vector<double>& b) {
  for (size_t i = 0; i < b.size(); ++i) v[i] += b[i];
}

}  // namespace

std::vector<std::vector<double>> ReferenceLogits(const std::string& path, const std::vector<int>& tokens) {
  auto file = gguf::GgufFile::Open(path);
  if (!file.ok()) throw std::runtime_error(file.status().message());
  const gguf::GgufFile& f = file.value();
  const std::string arch = f.GetString("general.architecture").value();
  const std::string p = arch + ".";
  const int n_embd = static_cast<int>(f.GetInt(p + "embedding_length").value());
  const int n_layers = static_cast<int>(f.GetInt(p + "block_count").value());
  const int n_heads = static_cast<int>(f.GetInt(p + "attention.head_count").value());
  const int n_kv_heads = static_cast<int>(f.GetInt(p + "attention.head_count_kv").value());
  const double theta = f.GetFloat(p + "rope.freq_base").value();
  const double eps = f.GetFloat(p + "attention.layer_norm_rms_epsilon").value();
  const bool neox = arch == "qwen2" || arch == "qwen3";
  const int head_dim = f.Find(p + "attention.key_length") ? static_cast<int>(f.GetInt(p + "attention.key_length").value())
                                                          : n_embd / n_heads;
  const int n = static_cast<int>(tokens.size());
  const std::vector<double> rope_factors = LoadVector(f, "rope_freqs.weight");
  const double rope_scaling = f.GetFloatOr(p + "rope.scaling.factor", 1.0);  // linear
  const double freq_scale = rope_scaling == 0 ? 1.0 : 1.0 / rope_scaling;

  const Matrix embd = LoadMatrix(f, "token_embd.weight");
  const Matrix output = f.FindTensor("output.weight") ? LoadMatrix(f, "output.weight") : embd;
  std::vector<std::vector<double>> h(n);
  for (int t = 0; t < n; ++t) h[t] = embd[tokens[t]];

  for (int il = 0; il < n_layers; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    const Matrix wq = LoadMatrix(f, b + "attn_q.weight"), wk = LoadMatrix(f, b + "attn_k.weight");
    const Matrix wv = LoadMatrix(f, b + "attn_v.weight"), wo = LoadMatrix(f, b + "attn_output.weight");
    const Matrix wg = LoadMatrix(f, b + "ffn_gate.weight"), wu = LoadMatrix(f, b + "ffn_up.weight");
    const Matrix wd = LoadMatrix(f, b + "ffn_down.weight");
    const auto attn_norm = LoadVector(f, b + "attn_norm.weight"), ffn_norm = LoadVector(f, b + "ffn_norm.weight");
    const auto bq = LoadVector(f, b + "attn_q.bias"), bk = LoadVector(f, b + "attn_k.bias");
    const auto bv = LoadVector(f, b + "attn_v.bias");
    // qwen3: each head of q and k RMS-normed with these weights before RoPE.
    const auto q_norm = LoadVector(f, b + "attn_q_norm.weight"), k_norm = LoadVector(f, b + "attn_k_norm.weight");
    const auto norm_heads = [&](std::vector<double>& v, int heads, const std::vector<double>& weight) {
      if (weight.empty()) return;
      for (int hh = 0; hh < heads; ++hh) {
        const std::vector<double> head(v.begin() + hh * head_dim, v.begin() + (hh + 1) * head_dim);
        const std::vector<double> normed = RmsNorm(head, weight, eps);
        std::copy(normed.begin(), normed.end(), v.begin() + hh * head_dim);
      }
    };

    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int t = 0; t < n; ++t) {
      const auto x = RmsNorm(h[t], attn_norm, eps);
      q[t] = MatVec(wq, x);
      k[t] = MatVec(wk, x);
      v[t] = MatVec(wv, x);
      AddBias(q[t], bq);
      AddBias(k[t], bk);
      AddBias(v[t], bv);
      norm_heads(q[t], n_heads, q_norm);
      norm_heads(k[t], n_kv_heads, k_norm);
      ApplyRope(q[t], n_heads, head_dim, t, theta, neox, freq_scale, rope_factors);
      ApplyRope(k[t], n_kv_heads, head_dim, t, theta, neox, freq_scale, rope_factors);
    }
    for (int t = 0; t < n; ++t) {
      std::vector<double> attn(n_heads * head_dim, 0.0);
      for (int hh = 0; hh < n_heads; ++hh) {
        const int kvh = hh / (n_heads / n_kv_heads);
        std::vector<double> s(t + 1);
        double max = -1e300;
        for (int j = 0; j <= t; ++j) {
          double d = 0;
          for (int i = 0; i < head_dim; ++i) d += q[t][hh * head_dim + i] * k[j][kvh * head_dim + i];
          s[j] = d / std::sqrt(static_cast<double>(head_dim));
          max = std::max(max, s[j]);
        }
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - max));
        for (int j = 0; j <= t; ++j)
          for (int i = 0; i < head_dim; ++i) attn[hh * head_dim + i] += s[j] / sum * v[j][kvh * head_dim + i];
      }
      const auto o = MatVec(wo, attn);
      for (int i = 0; i < n_embd; ++i) h[t][i] += o[i];
      const auto x = RmsNorm(h[t], ffn_norm, eps);
      auto g = MatVec(wg, x);
      const auto u = MatVec(wu, x);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      const auto d = MatVec(wd, g);
      for (int i = 0; i < n_embd; ++i) h[t][i] += d[i];
    }
  }
  const auto out_norm = LoadVector(f, "output_norm.weight");
  std::vector<std::vector<double>> logits(n);
  for (int t = 0; t < n; ++t) logits[t] = MatVec(output, RmsNorm(h[t], out_norm, eps));
  return logits;
}

}  // namespace kvfuse::model::testing
