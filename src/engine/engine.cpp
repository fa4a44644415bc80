#include "engine/engine.h"

#include <algorithm>
#include <cmath>

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

Result<std::unique_ptr<tokenizer::Tokenizer>> LoadTokenizer(const std::string& gguf_path) {
  auto file = gguf::GgufFile::Open(gguf_path);
  if (!file.ok()) return file.status();
  auto vocab = tokenizer::ReadVocab(file.value());
  if (!vocab.ok()) return vocab.status();
  return tokenizer::CreateTokenizer(std::move(vocab).value());
}

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
    auto tok = tokenizer::CreateTokenizer(std::move(vocab).value());
    if (tok.ok()) engine->tokenizer_ = std::move(tok).value();
    else engine->tokenizer_error_ = tok.status().message();
  }
  if (engine->tokenizer_ && !engine->tokenizer_->vocab().chat_template.empty()) {
    engine->chat_template_ = tokenizer::ChatTemplate::Create(engine->tokenizer_->vocab().chat_template);
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

Engine::Engine(std::unique_ptr<model::Model> model, const EngineOptions& options)
    : model_(std::move(model)),
      kv_(model_->kv_geometry(), (options.n_ctx + options.block_size - 1) / options.block_size * options.block_size),
      pool_(std::make_unique<kv::BlockPool>(kv_.n_slots() / options.block_size, options.block_size)),
      tree_(std::make_unique<kv::PrefixTree>(*pool_)),
      ctx_(options.n_threads) {}

void Engine::Release(int32_t seq) {
  const auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  for (int32_t b : it->second.table) pool_->Release(b);
  kv_.ClearSequence(seq);
  seqs_.erase(it);
}

void Engine::Reset() {
  while (!seqs_.empty()) Release(seqs_.begin()->first);
}

int32_t Engine::sequence_length(int32_t seq) const {
  const auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.len;
}

void Engine::ClearPrefixCache() {
  tree_ = std::make_unique<kv::PrefixTree>(*pool_);  // the old tree releases its blocks
}

Status Engine::KvCacheFull() const {
  return Status::ResourceExhausted(util::StrFormat("the KV cache is full (%d blocks of %d tokens in use)",
                                                   pool_->n_blocks(), pool_->block_size()));
}

Status Engine::Reserve(Sequence& seq, int32_t n_positions) {
  if (n_positions > kv_.n_slots())
    return Status::Error(util::StrFormat("%d tokens do not fit the context of %d", n_positions, kv_.n_slots()));
  const int32_t bs = pool_->block_size();
  while (static_cast<int32_t>(seq.table.size()) * bs < n_positions) {
    std::optional<int32_t> block = pool_->Allocate();
    if (!block && tree_->Evict(1) == 1) block = pool_->Allocate();
    if (!block)
      return KvCacheFull();
    seq.table.push_back(*block);
  }
  return Status::Ok();
}

std::vector<int32_t> Engine::SlotsOf(const Sequence& seq, int32_t n_positions) const {
  std::vector<int32_t> slots(n_positions);
  for (int32_t p = 0; p < n_positions; ++p) slots[p] = kv::SlotOf(seq.table, pool_->block_size(), p);
  return slots;
}

Status Engine::Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool all_logits,
                        std::vector<float>& logits, int n_batch, int32_t seq_id) {
  if (tokens.empty()) return Status::Error("nothing to evaluate");
  if (start_pos != 0 && start_pos != sequence_length(seq_id))
    return Status::Error(util::StrFormat("tokens at position %d: the sequence has %d (append only)",
                                         start_pos, sequence_length(seq_id)));
  if (static_cast<int64_t>(start_pos) + static_cast<int64_t>(tokens.size()) > kv_.n_slots())
    return Status::Error(util::StrFormat("prompt of %zu tokens at position %d does not fit the context of %d",
                                         tokens.size(), start_pos, kv_.n_slots()));
  if (start_pos == 0) Release(seq_id);
  Sequence& seq = seqs_[seq_id];
  const int32_t end = start_pos + static_cast<int32_t>(tokens.size());
  if (Status st = Reserve(seq, end); !st.ok()) {
    if (start_pos == 0) Release(seq_id);
    return st;
  }
  logits.clear();
  std::vector<float> batch_logits;
  for (size_t begin = 0; begin < tokens.size(); begin += n_batch) {
    const size_t stop = std::min(tokens.size(), begin + n_batch);
    model::TokenBatch batch;
    for (size_t i = begin; i < stop; ++i) {
      const int32_t pos = start_pos + static_cast<int32_t>(i);
      batch.Add(tokens[i], pos, seq_id, kv::SlotOf(seq.table, pool_->block_size(), pos),
                all_logits || i + 1 == tokens.size());
    }
    const Status st = model_->Forward(ctx_, batch, kv_, batch_logits);
    if (!st.ok()) {
      Release(seq_id);
      return st;
    }
    seq.len = start_pos + static_cast<int32_t>(stop);
    logits.insert(logits.end(), batch_logits.begin(), batch_logits.end());
  }
  return Status::Ok();
}

Status Engine::PrefillSegments(const SegmentedPrompt& prompt, const FusionOptions& options,
                               std::vector<float>& logits, FusionStats& stats, int32_t seq_id,
                               const fuse::FusionPlan* plan) {
  Release(seq_id);
  const std::vector<int32_t> tokens = prompt.Flatten();
  const int32_t n = static_cast<int32_t>(tokens.size());
  if (n == 0) return Status::Error("empty prompt");
  if (n > kv_.n_slots())
    return Status::Error(util::StrFormat("prompt of %d tokens exceeds the context of %d", n, kv_.n_slots()));
  // Reuse the cached blocks the mode may keep; everything after goes to fresh blocks.
  const int32_t bs = pool_->block_size();
  const std::vector<int32_t> matched = tree_->Match(tokens);
  const int32_t kept_blocks =
      fuse::ChunkFuser::KeptPrefix(prompt, options.mode, static_cast<int32_t>(matched.size()) * bs) / bs;
  Sequence& seq = seqs_[seq_id];
  for (int32_t i = 0; i < kept_blocks; ++i) {
    pool_->Retain(matched[i]);
    seq.table.push_back(matched[i]);
    for (int32_t s = 0; s < bs; ++s) kv_.AddToSequence(seq_id, matched[i] * bs + s);
  }
  if (Status st = Reserve(seq, n); !st.ok()) {
    Release(seq_id);
    return st;
  }
  const Status st =
      fuser_->Prefill(ctx_, kv_, seq_id, SlotsOf(seq, n), kept_blocks * bs, prompt, options, logits, stats, plan);
  if (!st.ok()) {
    Release(seq_id);
    return st;
  }
  seq.len = n;
  // Only exactly computed KV may serve later prompts: all of it under full and prefix,
  // the prefix segment under naive and blend.
  const bool exact = !fuse::ReusesChunkKv(options.mode);
  const size_t exact_tokens = exact ? tokens.size() : prompt.prefix.size();
  tree_->Insert(std::vector<int32_t>(tokens.begin(), tokens.begin() + exact_tokens), seq.table);
  return Status::Ok();
}

int32_t Engine::ReserveForDecode(const std::vector<int32_t>& seq_ids) {
  for (size_t i = 0; i < seq_ids.size(); ++i) {
    const auto it = seqs_.find(seq_ids[i]);
    if (it == seqs_.end() || !Reserve(it->second, it->second.len + 1).ok()) return static_cast<int32_t>(i);
  }
  return -1;
}

Status Engine::DecodeBatch(const std::vector<int32_t>& seq_ids, const std::vector<int32_t>& tokens,
                           std::vector<float>& logits) {
  if (seq_ids.empty() || seq_ids.size() != tokens.size()) return Status::Error("one token per sequence");
  if (ReserveForDecode(seq_ids) >= 0)
    return KvCacheFull();
  model::TokenBatch batch;
  for (size_t i = 0; i < seq_ids.size(); ++i) {
    const Sequence& seq = seqs_.at(seq_ids[i]);
    if (seq.len >= kv_.n_slots()) return Status::Error("a sequence reached the end of the context");
    batch.Add(tokens[i], seq.len, seq_ids[i], kv::SlotOf(seq.table, pool_->block_size(), seq.len), true);
  }
  KVFUSE_RETURN_IF_ERROR(model_->Forward(ctx_, batch, kv_, logits));
  for (int32_t id : seq_ids) ++seqs_.at(id).len;
  return Status::Ok();
}

Result<std::string> Engine::RenderChat(const std::vector<ChatMessage>& messages,
                                       bool add_generation_prompt) const {
  if (!tokenizer_) return Status::Error("cannot tokenize: " + tokenizer_error_);
  if (!chat_template_.ok()) return chat_template_.status();
  const tokenizer::Vocab& v = tokenizer_->vocab();
  const std::string bos = v.bos_id >= 0 ? v.tokens[v.bos_id] : "";
  const std::string eos = v.eos_id >= 0 ? v.tokens[v.eos_id] : "";
  return chat_template_->Render(messages, add_generation_prompt, bos, eos);
}

Result<std::vector<int32_t>> Engine::EncodeRendered(const std::string& text) const {
  if (!tokenizer_) return Status::Error("cannot tokenize: " + tokenizer_error_);
  const tokenizer::Vocab& v = tokenizer_->vocab();
  const std::string bos = v.bos_id >= 0 ? v.tokens[v.bos_id] : "";
  const bool has_bos = !bos.empty() && text.rfind(bos, 0) == 0;
  return tokenizer_->Encode(text, !has_bos, /*parse_special=*/true);
}

Result<std::vector<int32_t>> Engine::EncodeChat(const std::vector<ChatMessage>& messages,
                                                bool add_generation_prompt) const {
  auto text = RenderChat(messages, add_generation_prompt);
  if (!text.ok()) return text.status();
  return EncodeRendered(text.value());
}

bool Engine::EndsTurn(int32_t token) const {
  if (!tokenizer_) return false;
  const tokenizer::Vocab& v = tokenizer_->vocab();
  if (token == v.eos_id) return true;
  return token >= 0 && token < v.n_tokens() && v.types[token] == tokenizer::TokenType::kControl;
}

Result<std::vector<float>> Engine::Embed(const std::vector<int32_t>& tokens, int n_layers, int n_batch) {
  if (tokens.empty()) return Status::InvalidArgument("nothing to embed");
  if (n_layers < 0 || n_layers > model_->hparams().n_layers)
    return Status::InvalidArgument(util::StrFormat("embedding layer %d: the model has layers 0..%d", n_layers,
                                                   model_->hparams().n_layers));
  if (static_cast<int64_t>(tokens.size()) > kv_.n_slots())
    return Status::InvalidArgument(util::StrFormat("a text of %zu tokens does not fit the context of %d",
                                                   tokens.size(), kv_.n_slots()));
  Release(kScratchSequence);
  Sequence& seq = seqs_[kScratchSequence];
  if (Status st = Reserve(seq, static_cast<int32_t>(tokens.size())); !st.ok()) {
    Release(kScratchSequence);
    return st;
  }
  const int64_t n_embd = model_->hparams().n_embd;
  std::vector<double> sum(n_embd, 0.0);
  std::vector<float> hidden;
  for (size_t begin = 0; begin < tokens.size(); begin += n_batch) {
    const size_t stop = std::min(tokens.size(), begin + n_batch);
    model::TokenBatch batch;
    for (size_t i = begin; i < stop; ++i) {
      const int32_t pos = static_cast<int32_t>(i);
      batch.Add(tokens[i], pos, kScratchSequence, kv::SlotOf(seq.table, pool_->block_size(), pos), false);
    }
    if (const Status st = model_->Validate(batch, kv_); !st.ok()) {
      Release(kScratchSequence);
      return st;
    }
    hidden.resize(static_cast<size_t>(batch.size()) * n_embd);
    model_->Embed(batch, hidden.data());
    model_->RunLayers(ctx_, batch, 0, n_layers, hidden.data(), kv_);
    for (int t = 0; t < batch.size(); ++t)
      for (int64_t j = 0; j < n_embd; ++j) sum[j] += hidden[t * n_embd + j];
  }
  Release(kScratchSequence);
  double norm = 0;
  for (double x : sum) norm += x * x;
  norm = std::sqrt(norm);
  std::vector<float> out(n_embd);
  for (int64_t j = 0; j < n_embd; ++j) out[j] = norm > 0 ? static_cast<float>(sum[j] / norm) : 0.0f;
  return out;
}

Result<std::vector<float>> Engine::EmbedText(std::string_view text, int n_layers) {
  if (!tokenizer_) return Status::Error("cannot tokenize: " + tokenizer_error_);
  return Embed(tokenizer_->Encode(text, /*add_special=*/true), n_layers);
}

Status Engine::WarmChunk(const std::vector<int32_t>& tokens) {
  fuse::FusionPlan plan;
  return WarmChunk(tokens, plan);
}

Status Engine::WarmChunk(const std::vector<int32_t>& tokens, fuse::FusionPlan& plan) {
  if (tokens.empty()) return Status::InvalidArgument("empty chunk");
  auto chunk = fuser_->GetOrCompute(ctx_, tokens, plan.stats);
  if (!chunk.ok()) return chunk.status();
  plan.chunks.push_back(std::move(chunk).value());
  return Status::Ok();
}

int32_t Engine::CachedPrefixLength(const std::vector<int32_t>& tokens) {
  return static_cast<int32_t>(tree_->Match(tokens).size()) * pool_->block_size();
}

void Engine::CachePrefix(int32_t seq, const std::vector<int32_t>& tokens) {
  const auto it = seqs_.find(seq);
  if (it == seqs_.end() || it->second.len < static_cast<int32_t>(tokens.size())) return;
  tree_->Insert(tokens, it->second.table);
}

}  // namespace kvfuse::engine
