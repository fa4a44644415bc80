#include "engine/engine.h"

#include <optional>

#include "kernels/kernel_table.h"
#include "util/hash.h"

namespace kvfuse::engine {

using util::Result;
using util::Status;

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
  if (options.block_size <= 0) return Status::Error("KV block size must be positive");
  const kernels::KernelTable* kernel_table = &kernels::BestKernels();
  if (!options.kernels.empty() && !(kernel_table = kernels::KernelsNamed(options.kernels)))
    return Status::InvalidArgument("no '" + options.kernels + "' kernels: this CPU runs " +
                                   kernels::BestKernels().name + " (or: avx512, avx2, ref where it has them)");
  auto model = model::Model::Open(options.model_path, *kernel_table);
  if (!model.ok()) return model.status();
  std::unique_ptr<Engine> engine(new Engine(std::move(model).value()));
  engine->LoadText();
  std::optional<store::DiskTier> disk;
  if (!options.chunk_store_dir.empty()) {
    auto opened = store::DiskTier::Open(options.chunk_store_dir);
    if (!opened.ok()) return opened.status();
    disk = std::move(opened).value();
  }
  std::unique_ptr<store::RedisTier> remote;
  if (!options.redis.url.empty()) {
    auto opened = store::RedisTier::Open(options.redis);
    if (!opened.ok()) return opened.status().WithContext("--redis");
    remote = std::move(opened).value();
  }
  engine->model_fingerprint_ = engine->model_->fingerprint();
  engine->runner_ = std::make_unique<Runner>(
      *engine->model_, engine->tokenizer_.get(), RunnerOptions{options.n_threads, options.n_ctx, options.block_size, kernel_table},
      std::make_unique<store::ChunkStore>(options.chunk_ram_bytes, std::move(disk), std::move(remote)),
      engine->ChunkIdentity());
  return engine;
}

Engine::~Engine() { StopScheduler(); }

void Engine::LoadText() {
  auto vocab = tokenizer::ReadVocab(model_->file());
  model_->DropFileArrays();
  if (!vocab.ok()) {
    tokenizer_error_ = vocab.status().message();
    return;
  }
  auto tok = tokenizer::CreateTokenizer(std::move(vocab).value());
  if (!tok.ok()) {
    tokenizer_error_ = tok.status().message();
    return;
  }
  tokenizer_ = std::move(tok).value();
  if (!tokenizer_->vocab().chat_template.empty())
    chat_template_ = tokenizer::ChatTemplate::Create(tokenizer_->vocab().chat_template);
}

fuse::FuserIdentity Engine::ChunkIdentity() const {
  fuse::FuserIdentity id;
  id.model_fingerprint = model_fingerprint_;
  if (tokenizer_) {
    const tokenizer::Vocab& vocab = tokenizer_->vocab();
    util::Hasher h;
    h.Add(vocab.model);
    for (const std::string& t : vocab.tokens) h.Add(t).AddValue(uint8_t{0});
    id.tokenizer_fingerprint = h.Digest();
    if (vocab.add_bos && vocab.bos_id >= 0) id.chunk_head = {vocab.bos_id};
  }
  return id;
}

Scheduler& Engine::StartScheduler(SchedulerEvents& events, const SchedulerOptions& options) {
  KVFUSE_CHECK(!scheduler_);
  scheduler_ = std::make_unique<Scheduler>(*runner_, events, options);
  return *scheduler_;
}

void Engine::StopScheduler() { scheduler_.reset(); }

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

Result<std::vector<float>> Engine::EmbedText(std::string_view text, int n_layers) {
  if (!tokenizer_) return Status::Error("cannot tokenize: " + tokenizer_error_);
  return Embed(tokenizer_->Encode(text, /*add_special=*/true), n_layers);
}

AuditOutcome Engine::Audit(const SegmentedPrompt& prompt, const FusionOptions& fusion, int32_t answer_tokens) {
  sched::AuditRunner auditor(*runner_, answer_tokens, 1, sched::kAuditSequence);
  return auditor.Run({prompt, fusion, AuditTag{}});
}

Status Engine::WarmChunk(const std::vector<int32_t>& tokens) {
  return runner_->WarmChunk(tokens);
}

}  // namespace kvfuse::engine
