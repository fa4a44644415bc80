#include "sched/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "util/log_sum_exp.h"

namespace kvfuse::sched {

int32_t ArgMax(const float* logits, int32_t n_vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + n_vocab) - logits);
}

bool Sampler::Adjusts() const {
  return !params_.logit_bias.empty() ||
         (!generated_.empty() && (params_.presence_penalty != 0 || params_.frequency_penalty != 0 ||
                                  (params_.repeat_penalty != 1 && params_.repeat_last_n != 0)));
}

std::vector<float> Sampler::Adjusted(const float* logits, int32_t n_vocab) const {
  std::vector<float> out(logits, logits + n_vocab);
  for (const auto& [t, bias] : params_.logit_bias)
    if (t >= 0 && t < n_vocab) out[t] += bias;
  if (params_.repeat_penalty != 1 && params_.repeat_last_n != 0) {
    const size_t n = generated_.size();
    const size_t window = params_.repeat_last_n < 0 ? n : std::min<size_t>(n, params_.repeat_last_n);
    std::vector<bool> seen(n_vocab, false);
    for (size_t i = n - window; i < n; ++i) {
      const int32_t t = generated_[i];
      if (t < 0 || t >= n_vocab || seen[t]) continue;
      seen[t] = true;
      out[t] = out[t] > 0 ? out[t] / params_.repeat_penalty : out[t] * params_.repeat_penalty;
    }
  }
  for (const auto& [t, count] : counts_)
    if (t >= 0 && t < n_vocab) out[t] -= params_.presence_penalty + static_cast<float>(count) * params_.frequency_penalty;
  return out;
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  if (params_.grammar) grammar_.emplace(*params_.grammar);
}

int32_t Sampler::SampleAllowed(const float* logits, int32_t n_vocab) {
  const int32_t token = SampleFiltered(logits, n_vocab);
  if (!grammar_) return token;
  if (grammar_->Allows(token)) {
    grammar_->Accept(token);
    return token;
  }
  std::vector<float> masked(logits, logits + n_vocab);
  const std::vector<bool> allowed_tokens = grammar_->AllowedTokens(n_vocab);
  bool any = false;
  for (int32_t t = 0; t < n_vocab; ++t) {
    if (allowed_tokens[t]) any = true;
    else masked[t] = -std::numeric_limits<float>::infinity();
  }
  // Nothing allowed: end the turn; a vocabulary without an end token keeps the sampled one.
  const int32_t end = grammar_->AnyEndToken();
  const int32_t allowed = any ? SampleFiltered(masked.data(), n_vocab) : end >= 0 ? end : token;
  grammar_->Accept(allowed);
  return allowed;
}

int32_t Sampler::Sample(const float* logits, int32_t n_vocab) {
  const int32_t token =
      Adjusts() ? SampleAllowed(Adjusted(logits, n_vocab).data(), n_vocab) : SampleAllowed(logits, n_vocab);
  generated_.push_back(token);
  ++counts_[token];
  return token;
}

TokenLogprob LogprobOf(const float* logits, int32_t n_vocab, int32_t token, int32_t top) {
  const double log_z = util::LogSumExp(logits, n_vocab);
  const auto log_p = [&](int32_t i) { return static_cast<float>(logits[i] - log_z); };
  TokenLogprob out{token, log_p(token), {}};
  const auto k = static_cast<size_t>(std::clamp(top, 0, n_vocab));
  if (k == 0) return out;
  // The k likeliest in one pass: a heap whose front is the least likely kept.
  const auto likelier = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::vector<int32_t> kept;
  kept.reserve(k + 1);
  for (int32_t i = 0; i < n_vocab; ++i) {
    if (kept.size() == k && !likelier(i, kept.front())) continue;
    kept.push_back(i);
    std::push_heap(kept.begin(), kept.end(), likelier);
    if (kept.size() > k) {
      std::pop_heap(kept.begin(), kept.end(), likelier);
      kept.pop_back();
    }
  }
  std::sort(kept.begin(), kept.end(), likelier);
  for (int32_t id : kept) out.top.emplace_back(id, log_p(id));
  return out;
}

int32_t Sampler::SampleFiltered(const float* logits, int32_t n_vocab) {
  if (params_.temperature <= 0) return ArgMax(logits, n_vocab);
  std::vector<int32_t> ids(n_vocab);
  std::iota(ids.begin(), ids.end(), 0);
  int32_t k = params_.top_k > 0 ? std::min(params_.top_k, n_vocab) : n_vocab;
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  ids.resize(k);
  std::vector<double> probs(k);
  const double max = logits[ids[0]];
  double sum = 0;
  for (int32_t i = 0; i < k; ++i) {
    probs[i] = std::exp((logits[ids[i]] - max) / params_.temperature);
    sum += probs[i];
  }
  int32_t kept_by_min_p = k;
  for (int32_t i = 1; i < k; ++i)
    if (probs[i] < params_.min_p) {  // probs[i] is relative to the most likely token (1.0)
      kept_by_min_p = i;
      break;
    }
  k = kept_by_min_p;
  sum = std::accumulate(probs.begin(), probs.begin() + k, 0.0);
  double cumulative = 0;
  int32_t keep = k;
  for (int32_t i = 0; i < k; ++i) {
    cumulative += probs[i] / sum;
    if (cumulative >= params_.top_p) {
      keep = i + 1;
      break;
    }
  }
  std::discrete_distribution<int32_t> pick(probs.begin(), probs.begin() + keep);
  return ids[pick(rng_)];
}

}  // namespace kvfuse::sched
