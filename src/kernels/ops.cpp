#include "kernels/ops.h"

#include <cmath>
#include <vector>

#include "tensor/half.h"

namespace kvfuse::kernels {

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void Rope(float* x, int n_heads, float position, const RopeParams& p) {
  const int half = p.rope_dim / 2;
  for (int i = 0; i < half; ++i) {
    const float factor = p.freq_factors ? p.freq_factors[i] : 1.0f;
    const float inv_freq = p.freq_scale * std::pow(p.theta_base, -2.0f * i / p.rope_dim) / factor;
    const float theta = position * inv_freq;
    const float c = std::cos(theta), s = std::sin(theta);
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + h * p.head_dim;
      const int i0 = p.neox ? i : 2 * i;
      const int i1 = p.neox ? i + half : 2 * i + 1;
      const float x0 = v[i0], x1 = v[i1];
      v[i0] = x0 * c - x1 * s;
      v[i1] = x0 * s + x1 * c;
    }
  }
}

void ShiftKeysF16(const uint16_t* src, uint16_t* dst, int n_heads, float delta, const RopeParams& p) {
  const int n = n_heads * p.head_dim;
  thread_local std::vector<float> row;
  row.resize(n);
  for (int i = 0; i < n; ++i) row[i] = tensor::Fp16ToFp32(src[i]);
  Rope(row.data(), n_heads, delta, p);
  for (int i = 0; i < n; ++i) dst[i] = tensor::Fp32ToFp16(row[i]);
}

void Softmax(float* x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::fmax(max, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void SwiGlu(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void GeGlu(float* gate, const float* up, int64_t n) {
  const float sqrt_2_over_pi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float x = gate[i];
    gate[i] = 0.5f * x * (1.0f + std::tanh(sqrt_2_over_pi * (x + 0.044715f * x * x * x))) * up[i];
  }
}

void SoftCap(float* x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

void AddInPlace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace kvfuse::kernels
