// kvfuse bench-rag: time to first token of a RAG prompt under every fusion mode
// (shared/design/BENCHMARKS.md sections 2 and 3). Chunks are pre-warmed into the store
// first; each mode then serves the same requests in the same order, with the chunk store
// warm in RAM and, for the chunk-reusing modes, warm on disk only (RAM dropped before
// every request). Fidelity is measured against `full`: KL divergence of the first-token
// distribution and greedy top-1 agreement over the first --gen generated tokens. Adaptive
// runs last, on chunk variants recorded from full prefills of separate history requests.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/rag_workload.h"
#include "engine/generate_sync.h"

namespace kvfuse::cli {

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::vector<double> Softmax(const std::vector<float>& logits) {
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp(logits[i] - mx);
  for (double& x : p) x /= sum;
  return p;
}

double KlDivergence(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] > 0) kl += p[i] * std::log(p[i] / std::max(q[i], 1e-300));
  return std::max(0.0, kl);
}

double Percentile(std::vector<double> v, double pct) {
  std::sort(v.begin(), v.end());
  const double rank = pct / 100.0 * (v.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (rank - lo) * (v[hi] - v[lo]);
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

struct Reference {
  std::vector<double> first_token_probs;
  std::vector<int32_t> greedy;
};

struct ModeResult {
  std::string mode, tier;
  std::vector<double> ttft_ms, kl, agreement;
  double recomputed = 0, chunk_tokens = 0, computed = 0;
  int hits = 0, misses = 0;
};

}  // namespace

int BenchRagCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"-m", "-t", "-r", "--ratio", "--alpha", "--gen", "--store", "--pool", "--seed"},
                          {"--json"});
  if (!args.ok()) return Fail(args.status().message());
  RagWorkloadOptions wo;
  auto requests = args->GetInt("-r", wo.n_requests);
  auto gen = args->GetInt("--gen", 32);
  auto pool = args->GetInt("--pool", wo.pool_size);
  auto seed = args->GetInt("--seed", wo.seed);
  auto ratio = args->GetFloat("--ratio", 0.15);
  auto alpha = args->GetFloat("--alpha", 1.0);
  for (const util::Status* st : {&requests.status(), &gen.status(), &pool.status(), &seed.status(), &ratio.status(), &alpha.status()})
    if (!st->ok()) return Fail(st->message());
  if (requests.value() < 1 || requests.value() > 10000) return Fail("-r must be 1..10000");
  if (gen.value() < 1 || gen.value() > 4096) return Fail("--gen must be 1..4096");
  if (pool.value() < wo.chunks_per_request || pool.value() > 100000)
    return Fail(util::StrFormat("--pool must be %d..100000", wo.chunks_per_request));
  if (ratio.value() < 0 || ratio.value() > 1) return Fail("--ratio must be within [0, 1]");
  if (alpha.value() < 0) return Fail("--alpha must not be negative");
  wo.n_requests = static_cast<int>(requests.value());
  wo.pool_size = static_cast<int>(pool.value());
  wo.seed = static_cast<uint32_t>(seed.value());
  const int n_gen = static_cast<int>(gen.value());

  // Without --store, a private directory that is removed at the end.
  Args engine_args = args.value();
  std::string temp_store;
  if (!args->Has("--store")) {
    char tmpl[] = "/tmp/kvfuse-bench-rag-XXXXXX";
    if (!mkdtemp(tmpl)) return Fail("cannot create a temporary chunk store directory");
    temp_store = tmpl;
    engine_args.Set("--store", temp_store);
  }
  struct RemoveOnExit {
    std::string dir;
    ~RemoveOnExit() {
      std::error_code ec;
      if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }
  } cleanup{temp_store};

  const int prompt_len = wo.prefix_tokens + wo.chunks_per_request * wo.chunk_tokens + wo.question_tokens;
  auto loaded = LoadEngine(engine_args, prompt_len + n_gen + 1);
  if (!loaded.ok()) return Fail(loaded.status().message());
  engine::Engine& e = *loaded.value();
  const bool json = args->Has("--json");
  FILE* log = json ? stderr : stdout;

  int32_t bos = -1, first_id = 0;
  if (const auto* tok = e.tokenizer()) {
    if (tok->vocab().add_bos) bos = tok->vocab().bos_id;
    first_id = std::min<int32_t>(3, e.hparams().n_vocab - 1);  // skip unk/bos/eos of SPM vocabularies
  }
  const RagWorkload w = MakeRagWorkload(wo, e.hparams().n_vocab, bos, first_id);
  std::fprintf(log, "workload: %d requests of %d tokens (%d-token prefix, %d chunks x %d, %d-token question), "
               "pool %d, %zu distinct chunks used\n", wo.n_requests, prompt_len, wo.prefix_tokens,
               wo.chunks_per_request, wo.chunk_tokens, wo.question_tokens, wo.pool_size, w.used_chunks.size());

  const auto t_warm = Clock::now();
  for (int c : w.used_chunks) {
    const util::Status st = e.WarmChunk(w.pool[c]);
    if (!st.ok()) return Fail(st.message());
  }
  const double warm_ms = Ms(t_warm);
  std::fprintf(log, "pre-warmed %zu chunks in %.1f s (%.0f ms per chunk)\n", w.used_chunks.size(),
               warm_ms / 1000, warm_ms / w.used_chunks.size());

  std::vector<Reference> refs(w.requests.size());
  std::vector<ModeResult> results;
  auto run_mode = [&](engine::FusionMode mode, const char* tier, bool drop_ram, bool bottom_right) -> util::Status {
    ModeResult r;
    r.mode = std::string(engine::FusionModeName(mode)) + (bottom_right ? " (bottom-right mask)" : "");
    r.tier = tier;
    e.Reset();
    e.ClearPrefixCache();  // each mode starts cold; prefix reuse builds up over its requests
    for (size_t q = 0; q < w.requests.size(); ++q) {
      const engine::SegmentedPrompt& p = w.requests[q];
      if (drop_ram) e.chunk_store().DropRam();
      engine::SyncRequest request;  // greedy, n_gen tokens whatever they are
      request.fusion = {mode, static_cast<float>(ratio.value()), bottom_right};
      request.fusion.adaptive_alpha = static_cast<float>(alpha.value());
      request.max_tokens = n_gen;
      request.stop_at_end_of_turn = false;
      auto answer = engine::GenerateSync(e, p, request);
      if (!answer.ok()) return answer.status();
      const engine::FusionStats& stats = answer->stats;
      r.ttft_ms.push_back(answer->ttft_ms);
      r.recomputed += stats.chunk_tokens_recomputed;
      r.chunk_tokens += stats.chunk_tokens;
      r.computed += stats.tokens_computed;
      r.hits += stats.chunk_hits;
      r.misses += stats.chunk_misses;
      const std::vector<double> probs = Softmax(answer->first_logits);
      const std::vector<int32_t>& greedy = answer->tokens;
      if (mode == engine::FusionMode::kFull) refs[q] = {probs, greedy};
      r.kl.push_back(KlDivergence(refs[q].first_token_probs, probs));
      int same = 0;
      for (int i = 0; i < n_gen; ++i) same += greedy[i] == refs[q].greedy[i];
      r.agreement.push_back(static_cast<double>(same) / n_gen);
    }
    results.push_back(std::move(r));
    return util::Status::Ok();
  };

  // Cache-Craft needs chunks cached inside earlier prompts: full prefills of the history
  // requests record them (replacing the chunks cached alone) before adaptive runs.
  auto record_history = [&]() -> util::Status {
    const auto t0 = Clock::now();
    e.Reset();
    e.ClearPrefixCache();
    engine::FusionOptions record{engine::FusionMode::kFull};
    record.record_chunks = true;
    for (const engine::SegmentedPrompt& p : w.history) {
      std::vector<float> logits;
      engine::FusionStats stats;
      KVFUSE_RETURN_IF_ERROR(e.PrefillSegments(p, record, logits, stats));
    }
    std::fprintf(log, "recorded chunk variants from %zu history requests in %.1f s\n", w.history.size(), Ms(t0) / 1000);
    return util::Status::Ok();
  };

  using engine::FusionMode;
  const struct {
    FusionMode mode;
    const char* tier;
    bool drop_ram, bottom_right;
  } runs[] = {{FusionMode::kFull, "-", false, false},    {FusionMode::kPrefix, "-", false, false},
              {FusionMode::kNaive, "ram", false, false}, {FusionMode::kBlend, "ram", false, false},
              {FusionMode::kBlend, "ram", false, true},  {FusionMode::kNaive, "disk", true, false},
              {FusionMode::kBlend, "disk", true, false}, {FusionMode::kAdaptive, "ram", false, false},
              {FusionMode::kAdaptive, "disk", true, false}};
  bool recorded = false;
  for (const auto& run : runs) {
    if (run.mode == FusionMode::kAdaptive && !recorded) {
      const util::Status st = record_history();
      if (!st.ok()) return Fail(st.message());
      recorded = true;
    }
    std::fprintf(log, "running %s (%s%s)...\n", engine::FusionModeName(run.mode), run.tier,
                 run.bottom_right ? ", bottom-right mask" : "");
    std::fflush(log);
    const util::Status st = run_mode(run.mode, run.tier, run.drop_ram, run.bottom_right);
    if (!st.ok()) return Fail(st.message());
  }

  const double full_median = Percentile(results[0].ttft_ms, 50);
  const double n_req = static_cast<double>(w.requests.size());
  if (json) std::printf("[\n");
  else
    std::printf("| mode | store | TTFT p50 ms | TTFT p90 ms | speedup p50 | recomputed / chunk tokens | "
                "computed tokens | first-token KL | top-1 agreement |\n"
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (size_t i = 0; i < results.size(); ++i) {
    const ModeResult& r = results[i];
    const double p50 = Percentile(r.ttft_ms, 50), p90 = Percentile(r.ttft_ms, 90);
    if (json) {
      std::printf("  {\"mode\": \"%s\", \"store\": \"%s\", \"requests\": %zu, \"ttft_p50_ms\": %.2f, "
                  "\"ttft_p90_ms\": %.2f, \"speedup_p50\": %.3f, \"recomputed_per_request\": %.1f, "
                  "\"chunk_tokens_per_request\": %.1f, \"computed_per_request\": %.1f, \"chunk_hits\": %d, "
                  "\"chunk_misses\": %d, \"first_token_kl\": %.6g, \"top1_agreement\": %.4f}%s\n",
                  r.mode.c_str(), r.tier.c_str(), w.requests.size(), p50, p90, full_median / p50,
                  r.recomputed / n_req, r.chunk_tokens / n_req, r.computed / n_req, r.hits, r.misses,
                  Mean(r.kl), Mean(r.agreement), i + 1 < results.size() ? "," : "");
    } else {
      std::printf("| %s | %s | %.1f | %.1f | %.2fx | %.0f / %.0f | %.0f | %.4g | %.3f |\n", r.mode.c_str(),
                  r.tier.c_str(), p50, p90, full_median / p50, r.recomputed / n_req, r.chunk_tokens / n_req,
                  r.computed / n_req, Mean(r.kl), Mean(r.agreement));
    }
  }
  if (json) std::printf("]\n");
  return 0;
}

}  // namespace kvfuse::cli
