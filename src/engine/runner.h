// The runtime under the Engine facade: runs the model over the paged KV cache
// (kv::KvManager) for plain and fused prefill, batched decode, chunk warming and text
// embeddings. It is the Executor the scheduler drives. Prompts prefilled through
// PrefillSegments go through the prefix tree, so a later prompt that starts the same way
// reuses those blocks (full blocks of exactly computed KV only).
//
// Threading: one thread at a time (under a Scheduler, its thread); only the chunk store's
// corrupt_total() and the const shape getters may be read from other threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "fuse/chunk_fuser.h"
#include "kv/kv_manager.h"
#include "model/model.h"
#include "sched/executor.h"
#include "store/chunk_store.h"
#include "tokenizer/tokenizer.h"

namespace kvfuse::engine {

struct RunnerOptions {
  int n_threads = 2;
  int n_ctx = 2048;  // KV slots (rounded up to whole blocks)
  int block_size = 16;
  const kernels::KernelTable* kernels = nullptr;  // nullptr: the fastest this CPU runs
};

class Runner final : public sched::Executor {
 public:
  // `model` and `tokenizer` (nullptr when the model has none) outlive the runner.
  Runner(const model::Model& model, const tokenizer::Tokenizer* tokenizer, const RunnerOptions& options,
         std::unique_ptr<store::ChunkStore> store, fuse::FuserIdentity identity);

  const tokenizer::Tokenizer* tokenizer() const override { return tokenizer_; }
  int32_t n_vocab() const override { return model_.hparams().n_vocab; }
  int n_ctx() const override { return kv_.n_slots(); }
  bool EndsTurn(int32_t token) const override;

  int32_t CachedPrefixLength(const std::vector<int32_t>& tokens) override;
  util::Status PrefillSegments(const fuse::SegmentedPrompt& prompt, const fuse::FusionOptions& options,
                               std::vector<float>& logits, fuse::FusionStats& stats, int32_t seq) override;
  // The prefill runs on a thread of its own between steps (engine/stepped_prefill.h).
  std::unique_ptr<sched::PrefillSteps> StartPrefill(const fuse::SegmentedPrompt& prompt,
                                                    const fuse::FusionOptions& options, int32_t seq) override;
  util::Status Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool all_logits,
                        std::vector<float>& logits, int n_batch, int32_t seq) override;
  void CachePrefix(int32_t seq, const std::vector<int32_t>& tokens) override;
  // Puts the chunk's KV in the store, computing it if missing.
  util::Status WarmChunk(const std::vector<int32_t>& tokens);
  int32_t ReserveForDecode(const std::vector<int32_t>& seqs) override;
  util::Status DecodeBatch(const std::vector<int32_t>& seqs, const std::vector<int32_t>& tokens,
                           std::vector<float>& logits) override;
  void Release(int32_t seq) override;
  int64_t kv_blocks_used() const override { return kv_.blocks_used(); }
  int64_t kv_blocks_total() const override { return kv_.blocks_total(); }

  // A text embedding: the mean over tokens of the hidden states after the first n_layers
  // layers (0: the input embeddings), L2-normalised ([n_embd]). Runs in a scratch sequence.
  util::Result<std::vector<float>> Embed(const std::vector<int32_t>& tokens, int n_layers, int n_batch);

  kv::KvManager& kv() { return kv_; }
  const kv::KvManager& kv() const { return kv_; }
  store::ChunkStore& chunk_store() { return *store_; }

 private:
  static constexpr int32_t kScratchSequence = INT32_MAX;  // Embed's

  // PrefillSegments with its forward passes on `ctx`.
  util::Status PrefillOn(model::ForwardContext& ctx, const fuse::SegmentedPrompt& prompt,
                         const fuse::FusionOptions& options, std::vector<float>& logits, fuse::FusionStats& stats,
                         int32_t seq);

  const model::Model& model_;
  const tokenizer::Tokenizer* tokenizer_;
  kv::KvManager kv_;
  model::ForwardContext ctx_;
  std::unique_ptr<store::ChunkStore> store_;
  fuse::ChunkFuser fuser_;
};

}  // namespace kvfuse::engine
