// The facade the CLI, server and benchmarks use: a loaded model with its tokenizer and chat
// template, the Runner that runs it over the paged KV cache and the chunk store, and, when
// started, the Scheduler that serves requests over that runner. Several sequences may be
// live at once (ids chosen by the caller, 0 by default); DecodeBatch advances many in one
// forward pass. Prompts given to PrefillSegments go through the prefix tree, so a later
// prompt that starts the same way reuses those blocks (full blocks of exactly computed KV).
//
// Threading: everything that runs the model or touches sequences, the KV cache or the chunk
// store (Evaluate, PrefillSegments, DecodeBatch, WarmChunk, Embed, EmbedText, Release, Reset,
// ClearPrefixCache) is called by one thread at a time: while a Scheduler runs, its thread
// (other threads go through Scheduler::RunExclusive). StartScheduler and StopScheduler are
// called by the engine's owner. The const text methods (tokenizer(), RenderChat,
// RenderChatJson, TemplateRendersTools, EncodeRendered, EncodeChat, EndsTurn, CompileGrammar)
// and the shape getters (hparams, n_ctx,
// model_fingerprint) read state fixed at Load and may be called from any thread at any time,
// as the server's HTTP threads do; so may chunk_store().corrupt_total().
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/runner.h"
#include "fuse/chunk_fuser.h"
#include "kv/block_pool.h"
#include "model/model.h"
#include "sched/answer_agreement.h"
#include "sched/fidelity_audit.h"
#include "sched/sampler.h"
#include "sched/scheduler.h"
#include "store/chunk_store.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace kvfuse::engine {

// Sampling and scheduling are part of the facade so callers above the engine need not reach
// into sched/: the Engine's Scheduler runs requests over its Runner on its own thread.
using SamplingParams = sched::SamplingParams;
using Sampler = sched::Sampler;
using sched::GenerationChannel;
using sched::GenerationRequest;
using sched::GenerationResult;
using sched::Scheduler;
using sched::SchedulerEvents;
using sched::SchedulerOptions;
using sched::SlotState;
using sched::TokenLogprob;
// And for audits of fused answers against full prefill's.
using sched::AnswerComparison;
using sched::AuditOutcome;
using sched::AuditTag;
using sched::CompareAnswers;
using sched::FirstTokenKl;
// Likewise for the fusion vocabulary.
using fuse::FusionKnob;
using fuse::FusionMode;
using fuse::FusionModeList;
using fuse::IsDefaultFusion;
using fuse::kDefaultReuseMode;
using fuse::FusionModeName;
using fuse::ModeReadsKnob;
using fuse::ParseFusionMode;
using fuse::ReusesChunkKv;
using fuse::FusionOptions;
using fuse::FusionStats;
using fuse::SegmentedPrompt;
// And for the shared chunk tier.
using store::ParseRedisUrl;
using store::ParseRemoteFormat;
using store::RemoteFormatName;
using store::RedisTierOptions;
using store::RemoteStats;
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
  RedisTierOptions redis;                    // shared tier; none when redis.url is empty
  // The kernel table: "" for the fastest this CPU runs, else "avx512", "avx2" or "ref"
  // (benchmarks compare them; an error if this CPU lacks it).
  std::string kernels;
};

// The tokenizer of a GGUF file alone (no weights are touched): for tokenize-only tools.
util::Result<std::unique_ptr<tokenizer::Tokenizer>> LoadTokenizer(const std::string& gguf_path);
// The Hugging Face tokenizer of folder `hf_dir` (tokenizer.json, tokenizer_config.json)
// written as a vocabulary-only GGUF at `gguf_path` (kvfuse convert-tokenizer); returns the
// vocabulary it wrote. Errors name what cannot be converted.
util::Result<tokenizer::Vocab> ConvertHfTokenizer(const std::string& hf_dir, const std::string& gguf_path);

class Engine {
 public:
  static util::Result<std::unique_ptr<Engine>> Load(const EngineOptions& options);
  ~Engine();

  const model::Model& model() const { return *model_; }
  const model::HParams& hparams() const { return model_->hparams(); }
  int n_ctx() const { return runner_->n_ctx(); }
  int32_t n_vocab() const { return model_->hparams().n_vocab; }
  int32_t sequence_length(int32_t seq = 0) const { return runner_->kv().length(seq); }
  // nullptr when the GGUF has no tokenizer this build understands.
  const tokenizer::Tokenizer* tokenizer() const { return tokenizer_.get(); }
  const std::string& tokenizer_error() const { return tokenizer_error_; }
  // The model's chat template rendered for `messages` (ChatML when it has none).
  util::Result<std::string> RenderChat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // The chat template rendered for OpenAI-shaped `messages` (JSON: content strings or null,
  // assistant tool_calls, tool results) and `tools` (an array, empty for none), with the
  // generation prompt. A template that does not render tools itself gets them, and the
  // calls and results, in the Hermes format (engine/chat_tools.h).
  // `extra`: more template variables (a JSON object; it may not replace the ones above).
  util::Result<std::string> RenderChatJson(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                           const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;
  // Whether the model's own template renders tools (else RenderChatJson writes them in).
  bool TemplateRendersTools() const;
  // Text to tokens with special tokens parsed; BOS added unless the text starts with it.
  util::Result<std::vector<int32_t>> EncodeRendered(const std::string& text) const;
  // The model's chat template rendered for `messages` (ChatML when it has none), then
  // tokenized with special tokens parsed; BOS is added unless the template wrote it.
  util::Result<std::vector<int32_t>> EncodeChat(const std::vector<ChatMessage>& messages,
                                                bool add_generation_prompt) const;
  // The chat template's source text ("" when the model's did not parse and none is used).
  const std::string& chat_template_source() const {
    static const std::string kNone;
    return chat_template_.ok() ? chat_template_.value().source() : kNone;
  }
    // Whether generating `token` ends the model's turn (EOS or another control token).
  bool EndsTurn(int32_t token) const { return runner_->EndsTurn(token); }
  // A GBNF grammar bound to this model's vocabulary, for SamplingParams::grammar; errors name
  // the grammar's line. Any thread (the token texts are listed once, on first use).
  util::Result<std::shared_ptr<const sched::grammar::TokenGrammar>> CompileGrammar(const std::string& gbnf) const;

  // Starts the scheduler that runs requests over this engine on its own thread; from then
  // until StopScheduler (or the engine's end) the model methods below belong to its thread
  // (reach them through Scheduler::RunExclusive).
  Scheduler& StartScheduler(SchedulerEvents& events, const SchedulerOptions& options);
  // Waits for the scheduler's thread to end (requests in flight end with an error).
  void StopScheduler();

  // Ends a sequence, its blocks back to the pool (the prefix tree and the chunk store keep
  // what they cache); Reset ends every sequence.
  void Release(int32_t seq) { runner_->Release(seq); }
  void Reset() { runner_->kv().ReleaseAll(); }
  // Empties the prefix tree (the chunk store is kept).
  void ClearPrefixCache() { runner_->kv().ClearPrefixCache(); }
  // Runs tokens of sequence `seq` at positions start_pos.. in batches of n_batch and returns
  // the logits of the last token, or of every token when all_logits. start_pos 0 starts
  // the sequence anew; otherwise it must be its current length (append only).
  util::Status Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool all_logits,
                        std::vector<float>& logits, int n_batch = 512, int32_t seq = 0) {
    return runner_->Evaluate(tokens, start_pos, all_logits, logits, n_batch, seq);
  }
  // How many leading tokens of `tokens` the prefix cache holds (whole blocks).
  int32_t CachedPrefixLength(const std::vector<int32_t>& tokens) { return runner_->CachedPrefixLength(tokens); }
  // Offers sequence `seq`, whose KV holds exactly `tokens` (e.g. a prompt prefilled in
  // pieces with Evaluate), to the prefix cache.
  void CachePrefix(int32_t seq, const std::vector<int32_t>& tokens) { runner_->CachePrefix(seq, tokens); }
  // Prefills a segmented prompt into sequence `seq` at positions 0.. with chunk-cache
  // fusion and returns the logits of its last token. Generation continues with
  // Evaluate({token}, prompt.size() + i, ...) or DecodeBatch.
  util::Status PrefillSegments(const SegmentedPrompt& prompt, const FusionOptions& options,
                               std::vector<float>& logits, FusionStats& stats, int32_t seq = 0) {
    return runner_->PrefillSegments(prompt, options, logits, stats, seq);
  }
  // The same prefill in steps of about a budget of tokens each, as the scheduler runs it
  // (sched::PrefillSteps); other sequences may be decoded between its steps.
  std::unique_ptr<sched::PrefillSteps> StartPrefill(const SegmentedPrompt& prompt, const FusionOptions& options,
                                                    int32_t seq = 0) {
    return runner_->StartPrefill(prompt, options, seq);
  }
  // Makes room for one more token in each sequence, in order; returns the index of the
  // first that found no free block (the caller may preempt and retry), or -1.
  int32_t ReserveForDecode(const std::vector<int32_t>& seqs) { return runner_->ReserveForDecode(seqs); }
  // Appends tokens[i] to seqs[i] (each sequence at most once) in one forward pass; logits
  // [seqs.size(), n_vocab].
  util::Status DecodeBatch(const std::vector<int32_t>& seqs, const std::vector<int32_t>& tokens,
                           std::vector<float>& logits) {
    return runner_->DecodeBatch(seqs, tokens, logits);
  }
  // A text embedding: the mean over tokens of the hidden states after the first n_layers
  // layers (0: the input embeddings), L2-normalised ([n_embd]).
  util::Result<std::vector<float>> Embed(const std::vector<int32_t>& tokens, int n_layers, int n_batch = 512) {
    return runner_->Embed(tokens, n_layers, n_batch);
  }
  // Embed of a text, tokenized with BOS.
  util::Result<std::vector<float>> EmbedText(std::string_view text, int n_layers);
  // The prompt prefilled by `fusion` and by a full prefill, answer_tokens greedy tokens each,
  // and the answers compared (sched/fidelity_audit.h): `kvfuse ask --audit`, tests.
  AuditOutcome Audit(const SegmentedPrompt& prompt, const FusionOptions& fusion, int32_t answer_tokens);
  // Puts the chunk's KV in the store (computing it if missing): pre-warming.
  util::Status WarmChunk(const std::vector<int32_t>& tokens);
  store::ChunkStore& chunk_store() { return runner_->chunk_store(); }
  const kv::BlockPool& block_pool() const { return runner_->kv().pool(); }
  int32_t cached_prefix_blocks() const { return runner_->kv().cached_prefix_blocks(); }
  uint64_t model_fingerprint() const { return model_fingerprint_; }

 private:
  explicit Engine(std::unique_ptr<model::Model> model) : model_(std::move(model)) {}
  // Reads the GGUF's tokenizer and chat template; a model without them still runs.
  void LoadText();
  // What a chunk's cached KV depends on besides its tokens.
  fuse::FuserIdentity ChunkIdentity() const;

  std::unique_ptr<model::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::string tokenizer_error_;
  // The model's template, parsed once (ChatML when it has none; an error if it does not parse).
  util::Result<tokenizer::ChatTemplate> chat_template_ = tokenizer::ChatTemplate::ChatMl();
  uint64_t model_fingerprint_ = 0;
  std::unique_ptr<Runner> runner_;
  mutable std::once_flag token_texts_once_;
  mutable std::shared_ptr<const sched::grammar::TokenTexts> token_texts_;  // for grammars
  mutable std::shared_ptr<const std::vector<uint32_t>> first_chars_;      // of token_texts_
  std::unique_ptr<Scheduler> scheduler_;  // declared last: it stops before the runner goes
};

}  // namespace kvfuse::engine
