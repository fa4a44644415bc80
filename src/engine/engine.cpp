#include "engine/engine.h"

#include <algorithm>

namespace kvfuse::engine {

using util::Result;
using util::Status;

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
  return engine;
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
    KVFUSE_RETURN_IF_ERROR(model_->Forward(ctx_, batch, kv_, batch_logits));
    logits.insert(logits.end(), batch_logits.begin(), batch_logits.end());
  }
  return Status::Ok();
}

}  // namespace kvfuse::engine
