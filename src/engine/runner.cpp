#include "engine/runner.h"

#include <algorithm>
#include <cmath>

#include "engine/stepped_prefill.h"

namespace kvfuse::engine {

using util::Result;
using util::Status;

Runner::Runner(const model::Model& model, const tokenizer::Tokenizer* tokenizer, const RunnerOptions& options,
               std::unique_ptr<store::ChunkStore> store, fuse::FuserIdentity identity)
    : model_(model),
      tokenizer_(tokenizer),
      kv_(model.kv_geometry(), options.n_ctx, options.block_size),
      ctx_(options.n_threads, options.kernels ? *options.kernels : kernels::BestKernels()),
      store_(std::move(store)),
      fuser_(model, *store_, std::move(identity)) {}

bool Runner::EndsTurn(int32_t token) const {
  if (!tokenizer_) return false;
  const tokenizer::Vocab& v = tokenizer_->vocab();
  if (token == v.eos_id) return true;
  return token >= 0 && token < v.n_tokens() && v.types[token] == tokenizer::TokenType::kControl;
}

void Runner::Release(int32_t seq) { kv_.Release(seq); }

int32_t Runner::CachedPrefixLength(const std::vector<int32_t>& tokens) { return kv_.CachedPrefixLength(tokens); }

void Runner::CachePrefix(int32_t seq, const std::vector<int32_t>& tokens) { kv_.CachePrefix(seq, tokens); }

Status Runner::Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool all_logits,
                        std::vector<float>& logits, int n_batch, int32_t seq) {
  if (tokens.empty()) return Status::Error("nothing to evaluate");
  if (start_pos != 0 && start_pos != kv_.length(seq))
    return Status::Error(util::StrFormat("tokens at position %d: the sequence has %d (append only)", start_pos,
                                         kv_.length(seq)));
  if (static_cast<int64_t>(start_pos) + static_cast<int64_t>(tokens.size()) > kv_.n_slots())
    return Status::Error(util::StrFormat("prompt of %zu tokens at position %d does not fit the context of %d",
                                         tokens.size(), start_pos, kv_.n_slots()));
  if (start_pos == 0) kv_.Release(seq);
  const int32_t end = start_pos + static_cast<int32_t>(tokens.size());
  if (Status st = kv_.Reserve(seq, end); !st.ok()) {
    if (start_pos == 0) kv_.Release(seq);
    return st;
  }
  logits.clear();
  std::vector<float> batch_logits;
  for (size_t begin = 0; begin < tokens.size(); begin += n_batch) {
    const size_t stop = std::min(tokens.size(), begin + n_batch);
    model::TokenBatch batch;
    for (size_t i = begin; i < stop; ++i) {
      const int32_t pos = start_pos + static_cast<int32_t>(i);
      batch.Add(tokens[i], pos, seq, kv_.SlotOf(seq, pos), all_logits || i + 1 == tokens.size());
    }
    if (const Status st = model_.Forward(ctx_, batch, kv_, batch_logits); !st.ok()) {
      kv_.Release(seq);
      return st;
    }
    kv_.SetLength(seq, start_pos + static_cast<int32_t>(stop));
    logits.insert(logits.end(), batch_logits.begin(), batch_logits.end());
  }
  return Status::Ok();
}

Status Runner::PrefillSegments(const fuse::SegmentedPrompt& prompt, const fuse::FusionOptions& options,
                               std::vector<float>& logits, fuse::FusionStats& stats, int32_t seq) {
  return PrefillOn(ctx_, prompt, options, logits, stats, seq);
}

std::unique_ptr<sched::PrefillSteps> Runner::StartPrefill(const fuse::SegmentedPrompt& prompt,
                                                          const fuse::FusionOptions& options, int32_t seq) {
  return std::make_unique<SteppedPrefill>(
      ctx_.pool, *ctx_.kernels, model_.hparams().n_layers,
      [this, prompt, options, seq](model::ForwardContext& ctx, std::vector<float>& logits, fuse::FusionStats& stats) {
        return PrefillOn(ctx, prompt, options, logits, stats, seq);
      });
}

Status Runner::PrefillOn(model::ForwardContext& ctx, const fuse::SegmentedPrompt& prompt,
                         const fuse::FusionOptions& options, std::vector<float>& logits, fuse::FusionStats& stats,
                         int32_t seq) {
  kv_.Release(seq);
  const std::vector<int32_t> tokens = prompt.Flatten();
  const int32_t n = static_cast<int32_t>(tokens.size());
  if (n == 0) return Status::Error("empty prompt");
  if (n > kv_.n_slots())
    return Status::Error(util::StrFormat("prompt of %d tokens exceeds the context of %d", n, kv_.n_slots()));
  // Reuse the cached blocks the mode may keep; everything after goes to fresh blocks.
  const int32_t bs = kv_.block_size();
  const int32_t kept = fuse::KeptPrefix(prompt, options.mode, kv_.CachedPrefixLength(tokens)) / bs * bs;
  kv_.StartOnCachedPrefix(seq, tokens, kept);
  if (Status st = kv_.Reserve(seq, n); !st.ok()) {
    kv_.Release(seq);
    return st;
  }
  const Status st = fuser_.Prefill(ctx, kv_, seq, kept, prompt, options, logits, stats);
  if (!st.ok()) {
    kv_.Release(seq);
    return st;
  }
  kv_.SetLength(seq, n);
  // Only exactly computed KV may serve later prompts: all of it under full and prefix,
  // the prefix segment under the modes that reuse chunk KV.
  const size_t exact_tokens = fuse::ReusesChunkKv(options.mode) ? prompt.prefix.size() : tokens.size();
  kv_.CachePrefix(seq, std::vector<int32_t>(tokens.begin(), tokens.begin() + exact_tokens));
  return Status::Ok();
}

int32_t Runner::ReserveForDecode(const std::vector<int32_t>& seqs) { return kv_.ReserveForDecode(seqs); }

Status Runner::DecodeBatch(const std::vector<int32_t>& seqs, const std::vector<int32_t>& tokens,
                           std::vector<float>& logits) {
  if (seqs.empty() || seqs.size() != tokens.size()) return Status::Error("one token per sequence");
  for (int32_t seq : seqs) {
    if (!kv_.contains(seq)) return Status::Error(util::StrFormat("sequence %d is not live", seq));
    if (kv_.length(seq) >= kv_.n_slots()) return Status::Error("a sequence reached the end of the context");
  }
  if (const int32_t full = kv_.ReserveForDecode(seqs); full >= 0)
    return Status::ResourceExhausted(
        util::StrFormat("the KV cache is full: no free block for sequence %d", seqs[full]));
  model::TokenBatch batch;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int32_t pos = kv_.length(seqs[i]);
    batch.Add(tokens[i], pos, seqs[i], kv_.SlotOf(seqs[i], pos), true);
  }
  KVFUSE_RETURN_IF_ERROR(model_.Forward(ctx_, batch, kv_, logits));
  for (int32_t seq : seqs) kv_.SetLength(seq, kv_.length(seq) + 1);
  return Status::Ok();
}

Status Runner::WarmChunk(const std::vector<int32_t>& tokens) {
  if (tokens.empty()) return Status::InvalidArgument("empty chunk");
  fuse::FusionStats stats;
  return fuser_.GetOrCompute(ctx_, tokens, stats).status();
}

Result<std::vector<float>> Runner::Embed(const std::vector<int32_t>& tokens, int n_layers, int n_batch) {
  const int n_model_layers = model_.hparams().n_layers;
  if (tokens.empty()) return Status::InvalidArgument("nothing to embed");
  if (n_layers < 0 || n_layers > n_model_layers)
    return Status::InvalidArgument(
        util::StrFormat("embedding layer %d: the model has layers 0..%d", n_layers, n_model_layers));
  if (static_cast<int64_t>(tokens.size()) > kv_.n_slots())
    return Status::InvalidArgument(util::StrFormat("a text of %zu tokens does not fit the context of %d",
                                                   tokens.size(), kv_.n_slots()));
  kv_.Release(kScratchSequence);
  if (Status st = kv_.Reserve(kScratchSequence, static_cast<int32_t>(tokens.size())); !st.ok()) {
    kv_.Release(kScratchSequence);
    return st;
  }
  const int64_t n_embd = model_.hparams().n_embd;
  std::vector<double> sum(n_embd, 0.0);
  std::vector<float> hidden;
  for (size_t begin = 0; begin < tokens.size(); begin += n_batch) {
    const size_t stop = std::min(tokens.size(), begin + n_batch);
    model::TokenBatch batch;
    for (size_t i = begin; i < stop; ++i) {
      const int32_t pos = static_cast<int32_t>(i);
      batch.Add(tokens[i], pos, kScratchSequence, kv_.SlotOf(kScratchSequence, pos), false);
    }
    if (const Status st = model_.Validate(batch, kv_); !st.ok()) {
      kv_.Release(kScratchSequence);
      return st;
    }
    hidden.resize(static_cast<size_t>(batch.size()) * n_embd);
    model_.Embed(batch, hidden.data());
    model_.RunLayers(ctx_, batch, 0, n_layers, hidden.data(), kv_);
    for (int t = 0; t < batch.size(); ++t)
      for (int64_t j = 0; j < n_embd; ++j) sum[j] += hidden[t * n_embd + j];
  }
  kv_.Release(kScratchSequence);
  double norm = 0;
  for (double x : sum) norm += x * x;
  norm = std::sqrt(norm);
  std::vector<float> out(n_embd);
  for (int64_t j = 0; j < n_embd; ++j) out[j] = norm > 0 ? static_cast<float>(sum[j] / norm) : 0.0f;
  return out;
}

}  // namespace kvfuse::engine
