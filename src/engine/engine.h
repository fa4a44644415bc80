// The facade the CLI, server and benchmarks use: a loaded model with its tokenizer,
// one KV cache and a forward context. Sequence 0 only for now; the scheduler issue
// brings many sequences.
//
// Threading: an Engine is used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fuse/chunk_fuser.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "sched/sampler.h"
#include "store/chunk_store.h"
#include "tokenizer/spm_tokenizer.h"

namespace kvfuse::engine {

// Sampling is part of the facade so callers above the engine need not reach into sched/.
using SamplingParams = sched::SamplingParams;
using Sampler = sched::Sampler;
// Likewise for the fusion vocabulary.
using fuse::FusionMode;
using fuse::FusionOptions;
using fuse::FusionStats;
using fuse::SegmentedPrompt;

struct EngineOptions {
  std::string model_path;
  int n_threads = 2;
  int n_ctx = 2048;  // KV slots
  size_t chunk_ram_bytes = size_t{1} << 30;  // RAM tier budget of the chunk store
  std::string chunk_store_dir;               // disk tier; none when empty
};

class Engine {
 public:
  static util::Result<std::unique_ptr<Engine>> Load(const EngineOptions& options);

  const model::Model& model() const { return *model_; }
  const model::HParams& hparams() const { return model_->hparams(); }
  int n_ctx() const { return kv_.n_slots(); }
  // nullptr when the GGUF has no tokenizer this build understands.
  const tokenizer::SpmTokenizer* tokenizer() const { return tokenizer_.get(); }
  const std::string& tokenizer_error() const { return tokenizer_error_; }

  // Forgets the KV of sequence 0 (the chunk store is kept).
  void Reset() {
    kv_.Clear();
    fuser_->Forget();
  }
  // Runs tokens at positions start_pos.. (slot = position) in batches of n_batch and
  // returns the logits of the last token, or of every token when all_logits.
  util::Status Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool all_logits,
                        std::vector<float>& logits, int n_batch = 512);

  // Prefills a segmented prompt into sequence 0 at positions 0.. with chunk-cache
  // fusion and returns the logits of its last token. Generation continues with
  // Evaluate({token}, prompt.size() + i, ...).
  util::Status PrefillSegments(const SegmentedPrompt& prompt, const FusionOptions& options,
                               std::vector<float>& logits, FusionStats& stats);
  // Puts the chunk's KV in the store (computing it if missing): pre-warming.
  util::Status WarmChunk(const std::vector<int32_t>& tokens);
  store::ChunkStore& chunk_store() { return *store_; }
  uint64_t model_fingerprint() const { return model_fingerprint_; }

 private:
  Engine(std::unique_ptr<model::Model> model, const EngineOptions& options);

  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::SpmTokenizer> tokenizer_;
  std::string tokenizer_error_;
  kv::KvCache kv_;
  model::ForwardContext ctx_;
  uint64_t model_fingerprint_ = 0;
  std::unique_ptr<store::ChunkStore> store_;
  std::unique_ptr<fuse::ChunkFuser> fuser_;
};

}  // namespace kvfuse::engine
