// kvfuse ask: retrieve from a collection, prefill with chunk-cache fusion, stream the answer,
// then report the chunks used, time to first token, tokens recomputed and cache hits.
// --compare also answers with a full prefill first and prints both times. --audit then audits
// the fused answer as the server does (sched/fidelity_audit): both prefills again, greedy
// tokens after each (--audit-tokens, default 16), compared.
#include <chrono>
#include <cstdio>
#include <set>

#include "cli/collection_flag.h"
#include "cli/commands.h"
#include "cli/redis_flags.h"
#include "cli/fusion_flags.h"
#include "engine/generate_sync.h"
#include "engine/rag_prompt.h"
#include "rag/collection.h"
#include "rag/retrieve.h"
#include "util/timing.h"

namespace kvfuse::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Greedy decoding up to max_tokens or the end of the turn; pieces go to stdout as they come
// when `stream` (then a line feed).
util::Result<engine::SyncResult> Generate(engine::Engine& e, const engine::SegmentedPrompt& prompt,
                                          const engine::FusionOptions& options, int max_tokens, bool stream) {
  engine::SyncRequest request;
  request.fusion = options;
  request.max_tokens = max_tokens;
  if (stream)
    request.on_text = [](const std::string& piece) {
      std::fputs(piece.c_str(), stdout);
      std::fflush(stdout);
    };
  auto answer = engine::GenerateSync(e, prompt, request);
  if (stream && answer.ok()) std::fputs("\n", stdout);
  return answer;
}

// Prints one line per hit (heading, file, ranks) and returns the hits' texts.
std::vector<std::string> PrintHits(const rag::Collection& collection, const std::vector<rag::SearchHit>& hits) {
  std::vector<std::string> texts;
  for (const rag::SearchHit& h : hits) {
    const rag::CollectionChunk* c = collection.chunk(h.id);
    texts.push_back(c->text);
    const auto rank = [](int32_t r) { return r > 0 ? std::to_string(r) : std::string("-"); };
    std::printf("  #%d %s (%s; bm25 rank %s, dense rank %s", h.id, c->heading.c_str(), c->file.c_str(),
                rank(h.bm25_rank).c_str(), rank(h.dense_rank).c_str());
    if (h.linked_from >= 0) std::printf(", named by #%d", h.linked_from);
    std::printf(")\n");
  }
  return texts;
}

// The chunks a fused answer used, its time to first token (against full's when measured) and
// what it recomputed.
void PrintRun(const std::vector<rag::SearchHit>& hits, const engine::SyncResult& fused, engine::FusionMode mode,
              double full_ms) {
  const engine::FusionStats& s = fused.stats;
  std::printf("chunks used: ");
  for (const rag::SearchHit& h : hits) std::printf("#%d ", h.id);
  std::printf("\nTTFT %.1f ms (%s)", fused.ttft_ms, engine::FusionModeName(mode));
  if (full_ms > 0) std::printf(" vs %.1f ms (full): %.1fx", full_ms, full_ms / fused.ttft_ms);
  // A redo counts every chunk token once more: the method's own share is what came before it.
  const int32_t by_method = s.fell_back ? s.chunk_tokens_recomputed - s.chunk_tokens : s.chunk_tokens_recomputed;
  std::printf("; prompt %d tokens, %d computed afresh, %d of %d chunk tokens recomputed; chunk cache hits %d/%d\n",
              s.prompt_tokens, s.tokens_computed, by_method, s.chunk_tokens, s.chunk_hits,
              s.chunk_hits + s.chunk_misses);
  if (s.fell_back)
    std::printf("unsure of its first token (--fallback-below): then redone as a full prefill (all %d chunk tokens "
                "again)\n", s.chunk_tokens);
}

util::Status CheckAuditFlags(const Args& args, engine::FusionMode mode, long long tokens) {
  if (tokens < 1 || tokens > 256) return util::Status::InvalidArgument("--audit-tokens must be 1..256");
  if (args.Has("--audit-tokens") && !args.Has("--audit"))
    return util::Status::InvalidArgument("--audit-tokens needs --audit");
  if (args.Has("--audit") && !engine::ReusesChunkKv(mode))
    return util::Status::InvalidArgument(std::string("--audit compares a fused prefill with a full one; --mode ") +
                                         engine::FusionModeName(mode) + " reuses no chunk KV");
  return util::Status::Ok();
}

// The audit of `options`' answer, as GET /v1/fusion/audit reports one.
util::Status PrintAudit(engine::Engine& e, const engine::SegmentedPrompt& prompt, const engine::FusionOptions& options,
                        int32_t tokens) {
  e.Reset();
  const engine::AuditOutcome a = e.Audit(prompt, options, tokens);
  if (a.result != engine::AuditOutcome::Result::kCompared) return util::Status::Error("audit: " + a.error);
  const engine::AnswerComparison& c = a.comparison;
  const char* mode = engine::FusionModeName(options.mode);
  std::printf("audit of %s against full prefill: first-token KL %.4g nats, top-1 %s, %d of %d greedy tokens agree\n",
              mode, c.first_token_kl, c.top1_agrees ? "agrees" : "differs", c.tokens_agreeing, c.tokens_compared);
  std::printf("  %s: %s\n  full: %s\n", mode, a.fused_answer.c_str(), a.full_answer.c_str());
  return util::Status::Ok();
}

}  // namespace

int AskCommand(int argc, char** argv) {
  std::set<std::string> value_options = {"-m", "--collection", "-c", "-t", "-k", "-n", "--mode", "--system",
                                         "--dense-weight", "--audit-tokens"};
  value_options.merge(FusionKnobFlags());
  value_options.merge(RedisFlags());
  auto args = Args::Parse(argc, argv, value_options, {"--compare", "--audit"});
  if (!args.ok()) return Fail(args.status().message());
  auto collection_dir = CollectionDir(args.value(), /*takes_context=*/true);  // refuses "-c DIR"
  if (!collection_dir.ok()) return Fail(collection_dir.status().message());
  const std::string dir = collection_dir.value();
  if (args->positional().size() != 1) return Fail("give exactly one question (quote it)");
  const std::string question = args->positional()[0];
  auto k = args->GetInt("-k", 6);
  auto n_predict = args->GetInt("-n", 32);
  auto fusion = FusionOptionsFromArgs(args.value());
  auto dense_weight = args->GetFloatIn("--dense-weight", rag::SearchOptions{}.dense_weight, 0, 10, "0..10");
  auto audit_tokens = args->GetInt("--audit-tokens", 16);
  for (const util::Status* st :
       {&k.status(), &n_predict.status(), &fusion.status(), &dense_weight.status(), &audit_tokens.status()})
    if (!st->ok()) return Fail(st->message());
  if (const util::Status st = CheckAuditFlags(args.value(), fusion->mode, audit_tokens.value()); !st.ok())
    return Fail(st.message());
  if (k.value() < 1 || k.value() > 64) return Fail("-k must be 1..64");
  if (n_predict.value() < 1 || n_predict.value() > 4096) return Fail("-n must be 1..4096");

  if (const util::Status st = CheckIngested(dir); !st.ok()) return Fail(st.message());
  auto collection = rag::Collection::Open(dir);
  if (!collection.ok()) return Fail(collection.status().message());
  if (collection->n_chunks() == 0)
    return Fail(dir + " holds no documents: run kvfuse ingest --collection " + dir + " first");
  Args engine_args = args.value();
  engine_args.Set("--store", collection->kv_dir());
  auto engine = LoadEngine(engine_args, 4096);
  if (!engine.ok()) return Fail(engine.status().message());
  engine::Engine& e = *engine.value();
  if (!e.tokenizer()) return Fail("cannot tokenize: " + e.tokenizer_error());
  if (!collection->warning().empty()) std::fprintf(stderr, "warning: %s\n", collection->warning().c_str());
  const rag::QueryEmbedder embedder{
      e.model_fingerprint(), [&e](const std::string& text, int32_t layer) { return e.EmbedText(text, layer); }};
  if (!rag::EmbedsLike(collection.value(), embedder))
    std::fprintf(stderr, "warning: %s was ingested with another model: lexical search only, chunk KV computed now\n",
                 dir.c_str());

  const auto t_retrieve = Clock::now();
  rag::SearchOptions search;
  search.k = static_cast<size_t>(k.value());
  search.dense_weight = dense_weight.value();
  auto found = rag::Retrieve(collection.value(), question, search, embedder);
  if (!found.ok()) return Fail(found.status().message());
  const std::vector<rag::SearchHit>& hits = found.value();
  const double retrieve_ms = util::MsSince(t_retrieve);
  std::printf("retrieved %zu chunks in %.1f ms:\n", hits.size(), retrieve_ms);
  const std::vector<std::string> texts = PrintHits(collection.value(), hits);
  auto prompt = engine::BuildRagPrompt(e, args->Get("--system", engine::kDefaultRagSystemPrompt), texts, question);
  if (!prompt.ok()) return Fail(prompt.status().message());

  const int max_tokens = static_cast<int>(n_predict.value());
  double full_ms = 0;
  if (args->Has("--compare")) {
    auto full = Generate(e, prompt.value(), {engine::FusionMode::kFull}, max_tokens, false);
    if (!full.ok()) return Fail(full.status().message());
    full_ms = full->ttft_ms;
    std::printf("full prefill answer: %s\n", full->text.c_str());
    e.ClearPrefixCache();  // the fused run must not reuse the full run's prompt
    e.Reset();
  }
  const engine::FusionOptions& options = fusion.value();
  std::printf("%s answer: ", engine::FusionModeName(options.mode));
  std::fflush(stdout);
  auto fused = Generate(e, prompt.value(), options, max_tokens, true);
  if (!fused.ok()) return Fail(fused.status().message());
  PrintRun(hits, fused.value(), options.mode, full_ms);
  if (args->Has("--audit")) {
    if (const util::Status st = PrintAudit(e, prompt.value(), options, static_cast<int32_t>(audit_tokens.value()));
        !st.ok())
      return Fail(st.message());
  }
  return 0;
}

}  // namespace kvfuse::cli
