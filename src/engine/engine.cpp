#include "engine/engine.h"

#include <algorithm>

#include "util/hash.h"

namespace kvfuse::engine {

using util::Result;
using util::Status;

namespace {

// Identity of the weights: cached chunk KV is only valid for the exact model it came from.
uint64_t ModelFingerprint(const model::Model& model) {
  util::Hasher h;
  for (const auto& t : model.file().tensors()) h.Add(t.name).Add(t.data, t.n_bytes);
  return h.Digest();
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& options) {
  if (options.n_ctx <= 0) return Status::Error("context size must be positive");
  if (options.n_threads <= 0) return Status::Error("thread count must be positive");
  auto model = model::Model::Open(options.model_path);
  if (!model.ok()) return model.status();
  std::unique_ptr<Engine> engine(new Engine(std::move(model).value(), options));
  auto vocab = tokenizer::ReadVocab(engine->model_->file());
  if (!vocab.ok()) {
    engine->tokenizer_error_ = vocab.status().message();
  } else {
    auto tok = tokenizer::SpmTokenizer::Create(std::move(vocab).value());
    if (tok.ok()) engine->tokenizer_ = std::make_unique<tokenizer::SpmTokenizer>(std::move(tok).value());
    else engine->tokenizer_error_ = tok.status().message();
  }
  std::optional<store::DiskTier> disk;
  if (!options.chunk_store_dir.empty()) {
    auto opened = store::DiskTier::Open(options.chunk_store_dir);
    if (!opened.ok()) return opened.status();
    disk = std::move(opened).value();
  }
  engine->store_ = std::make_unique<store::ChunkStore>(options.chunk_ram_bytes, std::move(disk));
  fuse::FuserIdentity id;
  id.model_fingerprint = engine->model_fingerprint_ = ModelFingerprint(*engine->model_);
  if (engine->tokenizer_) {
    const tokenizer::Vocab& vocab = engine->tokenizer_->vocab();
    util::Hasher h;
    h.Add(vocab.model);
    for (const std::string& t : vocab.tokens) h.Add(t).AddValue(uint8_t{0});
    id.tokenizer_fingerprint = h.Digest();
    if (vocab.add_bos && vocab.bos_id >= 0) id.chunk_head = {vocab.bos_id};
  }
  engine->fuser_ = std::make_unique<fuse::ChunkFuser>(*engine->model_, *engine->store_, std::move(id));
  return engine;
}

Status Engine::PrefillSegments(const SegmentedPrompt& prompt, const FusionOptions& options,
                               std::vector<float>& logits, FusionStats& stats) {
  return fuser_->Prefill(ctx_, kv_, 0, prompt, options, logits, stats);
}

Status Engine::WarmChunk(const std::vector<int32_t>& tokens) {
  if (tokens.empty()) return Status::Error("empty chunk");
  FusionStats stats;
  auto chunk = fuser_->GetOrCompute(ctx_, tokens, stats);
  return chunk.ok() ? Status::Ok() : chunk.status();
}

Engine::Engine(std::unique_ptr<model::Model> model, const EngineOptions& options)
    : model_(std::move(model)),
      kv_(model_->kv_geometry(), options.n_ctx),
      ctx_(options.n_threads) {}

Status Engine::Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool all_logits,
                        std::vector<float>& logits, int n_batch) {
  if (tokens.empty()) return Status::Error("nothing to evaluate");
  if (start_pos < 0 || static_cast<int64_t>(start_pos) + static_cast<int64_t>(tokens.size()) > kv_.n_slots())
    return Status::Error(util::StrFormat("prompt of %zu tokens at position %d does not fit the context of %d",
                                         tokens.size(), start_pos, kv_.n_slots()));
  logits.clear();
  std::vector<float> batch_logits;
  for (size_t begin = 0; begin < tokens.size(); begin += n_batch) {
    const size_t end = std::min(tokens.size(), begin + n_batch);
    model::TokenBatch batch;
    for (size_t i = begin; i < end; ++i) {
      const int32_t pos = start_pos + static_cast<int32_t>(i);
      batch.Add(tokens[i], pos, 0, pos, all_logits || i + 1 == tokens.size());
    }
    const Status st = model_->Forward(ctx_, batch, kv_, batch_logits);
    if (!st.ok()) {
      fuser_->Forget();
      return st;
    }
    logits.insert(logits.end(), batch_logits.begin(), batch_logits.end());
  }
  fuser_->Record(start_pos, tokens);
  return Status::Ok();
}

}  // namespace kvfuse::engine
