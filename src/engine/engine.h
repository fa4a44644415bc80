// The facade the CLI, server and benchmarks use: a loaded model with its tokenizer,
// a paged KV cache (block pool + prefix radix tree), the chunk store and a forward
// context. Several sequences may be live at once (ids chosen by the caller, 0 by default),
// each with its own block table; DecodeBatch advances many in one forward pass. Prompts
// given to PrefillSegments go through the prefix tree, so a later prompt that starts the
// same way reuses those blocks (full blocks of exactly computed KV only).
//
// Threading: everything that runs the model or touches sequences, the KV cache or the chunk
// store (Evaluate, PrefillSegments, DecodeBatch, WarmChunk, Embed, EmbedText, the Executor
// methods) is called by one thread at a time: under a Scheduler, its thread (other threads go
// through Scheduler::RunExclusive). The const text methods (tokenizer(), RenderChat,
// EncodeRendered, EncodeChat, EndsTurn) and the shape getters (hparams, n_ctx,
// model_fingerprint) read state fixed at Load and may be called from any thread at any time,
// as the server's HTTP threads do; so may chunk_store().corrupt_total().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fuse/chunk_fuser.h"
#include "kv/block_pool.h"
#include "kv/kv_cache.h"
#include "kv/prefix_tree.h"
#include "model/model.h"
#include "sched/executor.h"
#include "sched/sampler.h"
#include "sched/scheduler.h"
#include "store/chunk_store.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace kvfuse::engine {

// Sampling and scheduling are part of the facade so callers above the engine need not reach
// into sched/: a Scheduler runs requests over an Engine (its Executor) on its own thread.
using SamplingParams = sched::SamplingParams;
using Sampler = sched::Sampler;
using sched::GenerationChannel;
using sched::GenerationRequest;
using sched::GenerationResult;
using sched::Scheduler;
using sched::SchedulerEvents;
using sched::SchedulerOptions;
// Likewise for the fusion vocabulary.
using fuse::FusionMode;
using fuse::FusionModeName;
using fuse::ParseFusionMode;
using fuse::FusionOptions;
using fuse::FusionStats;
using fuse::SegmentedPrompt;
// And for text in and out.
using tokenizer::ChatMessage;
using tokenizer::StreamDecoder;

struct EngineOptions {
  std::string model_path;
  int n_threads = 2;
  int n_ctx = 2048;  // KV slots (rounded up to whole blocks)
  int block_size = 16;
  size_t chunk_ram_bytes = size_t{1} << 30;  // RAM tier budget of the chunk store
  std::string chunk_store_dir;               // disk tier; none when empty
};

// The tokenizer of a GGUF file alone (no weights are touched): for tokenize-only tools.
util::Result<std::unique_ptr<tokenizer::Tokenizer>> LoadTokenizer(const std::string& gguf_path);

class Engine final : public sched::Executor {
 public:
  static util::Result<std::unique_ptr<Engine>> Load(const EngineOptions& options);

  const model::Model& model() const { return *model_; }
  const model::HParams& hparams() const { return model_->hparams(); }
  int n_ctx() const override { return kv_.n_slots(); }
  int32_t n_vocab() const override { return model_->hparams().n_vocab; }
  int32_t sequence_length(int32_t seq = 0) const;
  // nullptr when the GGUF has no tokenizer this build understands.
  const tokenizer::Tokenizer* tokenizer() const override { return tokenizer_.get(); }
  const std::string& tokenizer_error() const { return tokenizer_error_; }
  // The model's chat template rendered for `messages` (ChatML when it has none).
  util::Result<std::string> RenderChat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // Text to tokens with special tokens parsed; BOS added unless the text starts with it.
  util::Result<std::vector<int32_t>> EncodeRendered(const std::string& text) const;
  // The model's chat template rendered for `messages` (ChatML when it has none), then
  // tokenized with special tokens parsed; BOS is added unless the template wrote it.
  util::Result<std::vector<int32_t>> EncodeChat(const std::vector<ChatMessage>& messages,
                                                bool add_generation_prompt) const;
  // Whether generating `token` ends the model's turn (EOS or another control token).
  bool EndsTurn(int32_t token) const override;

  // Ends a sequence, its blocks back to the pool (the prefix tree and the chunk store keep
  // what they cache); Reset ends every sequence.
  void Release(int32_t seq) override;
  void Reset();
  // Empties the prefix tree (the chunk store is kept).
  void ClearPrefixCache();
  // Runs tokens of sequence `seq` at positions start_pos.. in batches of n_batch and returns
  // the logits of the last token, or of every token when all_logits. start_pos 0 starts
  // the sequence anew; otherwise it must be its current length (append only).
  util::Status Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool all_logits,
                        std::vector<float>& logits, int n_batch = 512, int32_t seq = 0) override;
  // How many leading tokens of `tokens` the prefix cache holds (whole blocks).
  int32_t CachedPrefixLength(const std::vector<int32_t>& tokens) override;
  // Offers sequence `seq`, whose KV holds exactly `tokens` (e.g. a prompt prefilled in
  // pieces with Evaluate), to the prefix cache.
  void CachePrefix(int32_t seq, const std::vector<int32_t>& tokens) override;

  // Prefills a segmented prompt into sequence `seq` at positions 0.. with chunk-cache
  // fusion and returns the logits of its last token. Generation continues with
  // Evaluate({token}, prompt.size() + i, ...) or DecodeBatch.
  util::Status PrefillSegments(const SegmentedPrompt& prompt, const FusionOptions& options,
                               std::vector<float>& logits, FusionStats& stats, int32_t seq = 0,
                               const fuse::FusionPlan* plan = nullptr) override;
  // Makes room for one more token in each sequence, in order; returns the index of the
  // first that found no free block (the caller may preempt and retry), or -1.
  int32_t ReserveForDecode(const std::vector<int32_t>& seqs) override;
  // Appends tokens[i] to seqs[i] (each sequence at most once) in one forward pass; logits
  // [seqs.size(), n_vocab].
  util::Status DecodeBatch(const std::vector<int32_t>& seqs, const std::vector<int32_t>& tokens,
                           std::vector<float>& logits) override;
  // A text embedding: the mean over tokens of the hidden states after the first n_layers
  // layers (0: the input embeddings), L2-normalised ([n_embd]). Runs in a scratch sequence.
  util::Result<std::vector<float>> Embed(const std::vector<int32_t>& tokens, int n_layers, int n_batch = 512);
  // Embed of a text, tokenized with BOS.
  util::Result<std::vector<float>> EmbedText(std::string_view text, int n_layers);
  // Puts the chunk's KV in the store (computing it if missing): pre-warming.
  util::Status WarmChunk(const std::vector<int32_t>& tokens);
  util::Status WarmChunk(const std::vector<int32_t>& tokens, fuse::FusionPlan& plan) override;
  store::ChunkStore& chunk_store() { return *store_; }
  const kv::BlockPool& block_pool() const { return *pool_; }
  int64_t kv_blocks_used() const override { return pool_->n_blocks() - pool_->n_free(); }
  int64_t kv_blocks_total() const override { return pool_->n_blocks(); }
  int32_t cached_prefix_blocks() const { return tree_->n_cached_blocks(); }
  uint64_t model_fingerprint() const { return model_fingerprint_; }

 private:
  Engine(std::unique_ptr<model::Model> model, const EngineOptions& options);

  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::string tokenizer_error_;
  // The model's template, parsed once (ChatML when it has none; an error if it does not parse).
  util::Result<tokenizer::ChatTemplate> chat_template_ = tokenizer::ChatTemplate::ChatMl();
  struct Sequence {
    std::vector<int32_t> table;  // its blocks, by position / block size
    int32_t len = 0;
  };
  static constexpr int32_t kScratchSequence = INT32_MAX;  // Embed's
  // Blocks for positions up to `n_positions` (evicting cached prefixes if needed).
  util::Status Reserve(Sequence& seq, int32_t n_positions);
  util::Status KvCacheFull() const;
  std::vector<int32_t> SlotsOf(const Sequence& seq, int32_t n_positions) const;

  kv::KvCache kv_;
  std::unique_ptr<kv::BlockPool> pool_;
  std::unique_ptr<kv::PrefixTree> tree_;
  std::map<int32_t, Sequence> seqs_;
  model::ForwardContext ctx_;
  uint64_t model_fingerprint_ = 0;
  std::unique_ptr<store::ChunkStore> store_;
  std::unique_ptr<fuse::ChunkFuser> fuser_;
};

}  // namespace kvfuse::engine
