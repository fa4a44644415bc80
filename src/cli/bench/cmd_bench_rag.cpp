// kvfuse bench-rag: time to first token of a RAG prompt under every fusion mode
// (shared/design/BENCHMARKS.md sections 2 and 3). Chunks are pre-warmed into the store
// first; then each request is served under every mode in turn (interleaved, so that load
// from elsewhere on the machine falls on every mode alike), with the prefix cache as the
// mode's previous request left it, the chunk store warm in RAM and, for the chunk-reusing
// modes, warm on disk only (RAM dropped before the request). Fidelity is measured against
// `full` with the server's audits' comparison (sched/answer_agreement): KL divergence of the
// first-token distribution, whether the first token agrees and whether all --gen greedy
// tokens do (generated past any end of turn, where audits stop at it); and the greedy top-1
// agreement position by position over them. Adaptive runs
// last, on chunk variants recorded from full prefills of separate history requests. --mode
// picks the modes (full always runs). With --redis (and no --store) the engine has no disk
// tier: the runs that drop RAM read every chunk from Redis instead.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <set>
#include <string>
#include <unistd.h>

#include "cli/bench/bench_commands.h"
#include "cli/bench/chunk_variants.h"
#include "cli/bench/rag_workload.h"
#include "cli/bench/stats.h"
#include "cli/commands.h"
#include "cli/fusion_flags.h"
#include "cli/redis_flags.h"
#include "engine/generate_sync.h"
#include "util/timing.h"

namespace kvfuse::cli {

namespace {

using engine::FusionMode;

// One row of the report: a fusion mode with the chunk store warm in RAM or on disk only.
struct ModeRun {
  FusionMode mode;
  const char* tier;
  bool drop_ram, bottom_right;
};

// In this order in the tables: full first (the reference, and every request's first run).
constexpr ModeRun kModeRuns[] = {
    {FusionMode::kFull, "-", false, false},     {FusionMode::kPrefix, "-", false, false},
    {FusionMode::kNaive, "ram", false, false},  {FusionMode::kBlend, "ram", false, false},
    {FusionMode::kBlend, "ram", false, true},   {FusionMode::kNaive, "disk", true, false},
    {FusionMode::kBlend, "disk", true, false},  {FusionMode::kGradual, "ram", false, false},
    {FusionMode::kSinks, "ram", false, false},
    {FusionMode::kQuery, "ram", false, false},  {FusionMode::kQuery, "disk", true, false},
    {FusionMode::kApe, "ram", false, false},
    {FusionMode::kAdaptive, "ram", false, false}, {FusionMode::kAdaptive, "disk", true, false}};

struct BenchRagOptions {
  Args engine_args;  // what LoadEngine reads: -m, -t, --store
  RagWorkloadOptions workload;
  int n_gen = 32;
  engine::FusionOptions knobs;  // each method's parameters (the mode is set per run)
  std::vector<FusionMode> modes;  // --mode: the rows to run (full always, as the reference)
  bool json = false;
};

util::Result<BenchRagOptions> ParseOptions(int argc, char** argv) {
  std::set<std::string> value_options = {"-m", "-t", "-r", "--gen", "--store", "--pool", "--seed", "--mode"};
  value_options.merge(FusionKnobFlags());
  value_options.merge(RedisFlags());
  auto parsed = Args::Parse(argc, argv, value_options, {"--json"});
  if (!parsed.ok()) return parsed.status();
  const Args& args = parsed.value();
  BenchRagOptions o;
  RagWorkloadOptions& wo = o.workload;
  auto requests = args.GetInt("-r", wo.n_requests);
  auto gen = args.GetInt("--gen", o.n_gen);
  auto pool = args.GetInt("--pool", wo.pool_size);
  auto seed = args.GetInt("--seed", wo.seed);
  auto knobs = FusionKnobsFromArgs(args);
  std::vector<FusionMode> all;
  for (const ModeRun& run : kModeRuns)
    if (std::find(all.begin(), all.end(), run.mode) == all.end()) all.push_back(run.mode);
  auto modes = FusionModesFromArg(args.Get("--mode", "all"), all);
  for (const util::Status* st :
       {&requests.status(), &gen.status(), &pool.status(), &seed.status(), &knobs.status(), &modes.status()})
    if (!st->ok()) return *st;
  KVFUSE_RETURN_IF_ERROR(RefuseKnobsNotReadBy(args, modes.value()));
  o.modes = modes.value();
  if (std::find(o.modes.begin(), o.modes.end(), FusionMode::kFull) == o.modes.end())
    o.modes.insert(o.modes.begin(), FusionMode::kFull);
  if (requests.value() < 1 || requests.value() > 10000) return util::Status::Error("-r must be 1..10000");
  if (gen.value() < 1 || gen.value() > 4096) return util::Status::Error("--gen must be 1..4096");
  if (args.Has("--redis") && args.Has("--store"))
    return util::Status::InvalidArgument("--redis with --store: the runs that drop RAM would read the disk, not Redis");
  if (pool.value() < wo.chunks_per_request || pool.value() > 100000)
    return util::Status::Error(util::StrFormat("--pool must be %d..100000", wo.chunks_per_request));
  if (seed.value() < 0 || seed.value() > UINT32_MAX) return util::Status::Error("--seed must be 0..4294967295");
  wo.n_requests = static_cast<int>(requests.value());
  wo.pool_size = static_cast<int>(pool.value());
  wo.seed = static_cast<uint32_t>(seed.value());
  o.n_gen = static_cast<int>(gen.value());
  o.knobs = knobs.value();
  o.json = args.Has("--json");
  o.engine_args = args;
  return o;
}

// A directory removed with its contents when this goes (nothing when path is empty).
struct TemporaryDirectory {
  std::string path;
  ~TemporaryDirectory() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// The random-token workload; token ids skip the unk/bos/eos of SPM vocabularies.
RagWorkload MakeWorkload(const engine::Engine& e, const RagWorkloadOptions& wo, FILE* log) {
  int32_t bos = -1, first_id = 0;
  if (const auto* tok = e.tokenizer()) {
    if (tok->vocab().add_bos) bos = tok->vocab().bos_id;
    first_id = std::min<int32_t>(3, e.hparams().n_vocab - 1);
  }
  RagWorkload w = MakeRagWorkload(wo, e.hparams().n_vocab, bos, first_id);
  std::fprintf(log, "workload: %d requests of %d tokens (%d-token prefix, %d chunks x %d, %d-token question), "
               "pool %d, %zu distinct chunks used\n", wo.n_requests, wo.PromptTokens(), wo.prefix_tokens,
               wo.chunks_per_request, wo.chunk_tokens, wo.question_tokens, wo.pool_size, w.used_chunks.size());
  return w;
}

util::Status PrewarmChunks(engine::Engine& e, const RagWorkload& w, FILE* log) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int c : w.used_chunks) KVFUSE_RETURN_IF_ERROR(e.WarmChunk(w.pool[c]));
  const double warm_ms = util::MsSince(t0);
  std::fprintf(log, "pre-warmed %zu chunks in %.1f s (%.0f ms per chunk)\n", w.used_chunks.size(),
               warm_ms / 1000, warm_ms / w.used_chunks.size());
  return util::Status::Ok();
}

// Cache-Craft needs chunks cached inside earlier prompts: full prefills of the history
// requests record them before adaptive runs.
util::Status RecordHistory(engine::Engine& e, const RagWorkload& w, FILE* log) {
  const auto t0 = std::chrono::steady_clock::now();
  e.Reset();
  e.ClearPrefixCache();
  KVFUSE_RETURN_IF_ERROR(RecordChunkVariants(e, w.history));
  std::fprintf(log, "recorded chunk variants from %zu history requests in %.1f s\n", w.history.size(),
               util::MsSince(t0) / 1000);
  return util::Status::Ok();
}

// The full prefill's answer to a request, which the other modes are measured against.
struct Reference {
  std::vector<float> first_logits;
  std::vector<int32_t> greedy;
};

struct ModeResult {
  std::string mode, tier;
  bool is_default = false;  // the default reuse mode with its default knobs
  std::vector<double> ttft_ms, kl, agreement;
  int first_tokens_agreeing = 0, answers_agreeing = 0;  // as audits count them (sched/answer_agreement)
  double recomputed = 0, chunk_tokens = 0, computed = 0;
  int hits = 0, misses = 0;
};

// Adds one request's counters, and its fidelity to the reference answer, to `r`.
void AddAnswer(ModeResult& r, const engine::SyncResult& answer, const Reference& ref, int n_gen) {
  const engine::FusionStats& stats = answer.stats;
  r.ttft_ms.push_back(answer.ttft_ms);
  r.recomputed += stats.chunk_tokens_recomputed;
  r.chunk_tokens += stats.chunk_tokens;
  r.computed += stats.tokens_computed;
  r.hits += stats.chunk_hits;
  r.misses += stats.chunk_misses;
  const engine::AnswerComparison c =
      engine::CompareAnswers(ref.first_logits, ref.greedy, answer.first_logits, answer.tokens);
  r.kl.push_back(c.first_token_kl);
  r.first_tokens_agreeing += c.top1_agrees;
  r.answers_agreeing += c.answer_agrees();
  int same = 0;
  for (int i = 0; i < n_gen; ++i) same += answer.tokens[i] == ref.greedy[i];
  r.agreement.push_back(static_cast<double>(same) / n_gen);
}

engine::SyncRequest RequestOf(const BenchRagOptions& o, const ModeRun& run) {
  engine::SyncRequest request;  // greedy, n_gen tokens whatever they are
  request.fusion = o.knobs;
  request.fusion.mode = run.mode;
  request.fusion.bottom_right_mask = run.bottom_right;
  request.max_tokens = o.n_gen;
  request.stop_at_end_of_turn = false;
  return request;
}

// Serves request q under `run` into `r` (the full run fills refs[q]). The prefix cache is as
// this mode's previous request left it: emptied, then that request prefilled again, untimed.
util::Status ServeRequest(engine::Engine& e, const RagWorkload& w, size_t q, const BenchRagOptions& o,
                          const ModeRun& run, std::vector<Reference>& refs, ModeResult& r) {
  const engine::SyncRequest request = RequestOf(o, run);
  e.Reset();
  e.ClearPrefixCache();
  if (q > 0 && run.mode != FusionMode::kFull) {  // full keeps no prefix
    engine::SyncRequest warm = request;
    warm.max_tokens = 1;
    KVFUSE_RETURN_IF_ERROR(engine::GenerateSync(e, w.requests[q - 1], warm).status());
    e.Reset();
  }
  if (run.drop_ram) {
    e.chunk_store().DropRam();
  } else if (run.mode != FusionMode::kFull && run.mode != FusionMode::kPrefix) {
    // A RAM row reads RAM: a row before it may have dropped RAM and refilled it with another
    // request's chunks.
    for (const std::vector<int32_t>& chunk : w.requests[q].chunks) KVFUSE_RETURN_IF_ERROR(e.WarmChunk(chunk));
  }
  auto answer = engine::GenerateSync(e, w.requests[q], request);
  if (!answer.ok()) return answer.status();
  if (run.mode == FusionMode::kFull) refs[q] = {answer->first_logits, answer->tokens};
  AddAnswer(r, answer.value(), refs[q], o.n_gen);
  return util::Status::Ok();
}

// Serves the requests one by one, each under every run of `runs` in turn (so every mode
// sees the same load over time), into results[i] for kModeRuns[i].
util::Status ServeInterleaved(engine::Engine& e, const RagWorkload& w, const BenchRagOptions& o,
                              const std::vector<size_t>& runs, std::vector<Reference>& refs,
                              std::vector<ModeResult>& results, FILE* log) {
  for (size_t q = 0; q < w.requests.size(); ++q) {
    std::fprintf(log, "request %zu of %zu under %zu modes...\n", q + 1, w.requests.size(), runs.size());
    std::fflush(log);
    for (size_t i : runs) KVFUSE_RETURN_IF_ERROR(ServeRequest(e, w, q, o, kModeRuns[i], refs, results[i]));
  }
  return util::Status::Ok();
}

// Every run but adaptive's interleaved, then adaptive's (after recording the chunk variants
// it needs, which replace the chunks cached alone that the other modes place).
util::Result<std::vector<ModeResult>> RunAllModes(engine::Engine& e, const RagWorkload& w,
                                                  const BenchRagOptions& o, FILE* log) {
  std::vector<Reference> refs(w.requests.size());
  std::vector<ModeResult> results(std::size(kModeRuns));
  std::vector<size_t> plain, adaptive;
  for (size_t i = 0; i < std::size(kModeRuns); ++i) {
    const ModeRun& run = kModeRuns[i];
    if (std::find(o.modes.begin(), o.modes.end(), run.mode) == o.modes.end()) continue;
    results[i].mode = std::string(engine::FusionModeName(run.mode)) + (run.bottom_right ? " (bottom-right mask)" : "");
    results[i].tier = run.tier;
    engine::FusionOptions fusion = o.knobs;
    fusion.mode = run.mode;
    fusion.bottom_right_mask = run.bottom_right;
    results[i].is_default = engine::IsDefaultFusion(fusion);
    (run.mode == FusionMode::kAdaptive ? adaptive : plain).push_back(i);
  }
  KVFUSE_RETURN_IF_ERROR(ServeInterleaved(e, w, o, plain, refs, results, log));
  if (!adaptive.empty()) {
    KVFUSE_RETURN_IF_ERROR(RecordHistory(e, w, log));
    KVFUSE_RETURN_IF_ERROR(ServeInterleaved(e, w, o, adaptive, refs, results, log));
  }
  std::vector<ModeResult> ran;  // the rows --mode asked for, in the table's order
  for (ModeResult& r : results)
    if (!r.ttft_ms.empty()) ran.push_back(std::move(r));
  return ran;
}

// A JSON array or a Markdown table, a row per mode run; speedups are against the first (full).
void PrintResults(const std::vector<ModeResult>& results, size_t n_requests, bool json) {
  const double full_median = InterpolatedPercentile(results[0].ttft_ms, 0.5);
  const double n_req = static_cast<double>(n_requests);
  if (json) std::printf("[\n");
  else
    std::printf("| mode | store | TTFT p50 ms | TTFT p90 ms | speedup p50 | recomputed / chunk tokens | "
                "computed tokens | first-token KL | top-1 agreement | first token agrees | answers agree |\n"
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (size_t i = 0; i < results.size(); ++i) {
    const ModeResult& r = results[i];
    const double p50 = InterpolatedPercentile(r.ttft_ms, 0.5), p90 = InterpolatedPercentile(r.ttft_ms, 0.9);
    if (json) {
      std::printf("  {\"mode\": \"%s\", \"store\": \"%s\", \"requests\": %zu, \"ttft_p50_ms\": %.2f, "
                  "\"ttft_p90_ms\": %.2f, \"speedup_p50\": %.3f, \"recomputed_per_request\": %.1f, "
                  "\"chunk_tokens_per_request\": %.1f, \"computed_per_request\": %.1f, \"chunk_hits\": %d, "
                  "\"chunk_misses\": %d, \"first_token_kl\": %.6g, \"top1_agreement\": %.4f, "
                  "\"first_tokens_agreeing\": %d, \"answers_agreeing\": %d%s}%s\n",
                  r.mode.c_str(), r.tier.c_str(), n_requests, p50, p90, full_median / p50,
                  r.recomputed / n_req, r.chunk_tokens / n_req, r.computed / n_req, r.hits, r.misses,
                  Mean(r.kl), Mean(r.agreement), r.first_tokens_agreeing, r.answers_agreeing,
                  r.is_default ? ", \"default\": true" : "",
                  i + 1 < results.size() ? "," : "");
    } else {
      std::printf("| %s%s | %s | %.1f | %.1f | %.2fx | %.0f / %.0f | %.0f | %.4g | %.3f | %d / %zu | %d / %zu |\n",
                  r.mode.c_str(), r.is_default ? " (default)" : "", r.tier.c_str(), p50, p90, full_median / p50,
                  r.recomputed / n_req, r.chunk_tokens / n_req, r.computed / n_req, Mean(r.kl), Mean(r.agreement),
                  r.first_tokens_agreeing, n_requests, r.answers_agreeing, n_requests);
    }
  }
  if (json) std::printf("]\n");
}

}  // namespace

int BenchRagCommand(int argc, char** argv) {
  auto options = ParseOptions(argc, argv);
  if (!options.ok()) return Fail(options.status().message());
  const BenchRagOptions& o = options.value();

  // Without --store (or --redis), a private directory that is removed at the end.
  Args engine_args = o.engine_args;
  TemporaryDirectory temp_store;
  if (!engine_args.Has("--store") && !engine_args.Has("--redis")) {
    char tmpl[] = "/tmp/kvfuse-bench-rag-XXXXXX";
    if (!mkdtemp(tmpl)) return Fail("cannot create a temporary chunk store directory");
    temp_store.path = tmpl;
    engine_args.Set("--store", temp_store.path);
  }
  auto loaded = LoadEngine(engine_args, o.workload.PromptTokens() + o.n_gen + 1);
  if (!loaded.ok()) return Fail(loaded.status().message());
  engine::Engine& e = *loaded.value();
  FILE* log = o.json ? stderr : stdout;

  const RagWorkload w = MakeWorkload(e, o.workload, log);
  const util::Status warmed = PrewarmChunks(e, w, log);
  if (!warmed.ok()) return Fail(warmed.message());
  store::RedisTier* redis = e.chunk_store().remote();
  if (redis && (!redis->Flush(600'000) || !redis->up() || redis->stats().writes_dropped + redis->stats().write_errors > 0))
    return Fail("redis " + redis->endpoint().Name() + ": the pre-warmed chunks could not be written");
  auto results = RunAllModes(e, w, o, log);
  if (!results.ok()) return Fail(results.status().message());
  if (redis)
    for (ModeResult& r : results.value())
      if (r.tier == "disk") r.tier = "redis";
  PrintResults(results.value(), w.requests.size(), o.json);
  if (redis) {
    const store::RemoteStats s = redis->stats();
    std::fprintf(log, "redis %s: %s KV, %.0f bytes per chunk token written; %llu hits, %llu misses, %llu errors\n",
                 redis->endpoint().Name().c_str(), store::RemoteFormatName(redis->format()),
                 s.tokens_written ? static_cast<double>(s.bytes_written) / s.tokens_written : 0.0,
                 static_cast<unsigned long long>(s.hits), static_cast<unsigned long long>(s.misses),
                 static_cast<unsigned long long>(s.errors));
  }
  return 0;
}

}  // namespace kvfuse::cli
