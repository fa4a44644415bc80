// kvfuse bench: prompt processing (pp) and text generation (tg) speed, measured like
// llama-bench: pp = one prompt of P random tokens; tg = N single-token steps; both from a
// cache that holds -d D tokens already (llama-bench's depth: D random tokens evaluated, not
// timed, before each run; 0 by default); each repeated -r times after one warm-up run. Then
// the memory: the process's peak RSS and the KV cache's bytes. --kernels avx512|avx2|ref runs
// another kernel table than the fastest, to compare them.
#include <chrono>
#include <cstdio>
#include <random>

#include <sys/resource.h>

#include "cli/bench/bench_commands.h"
#include "cli/bench/stats.h"
#include "cli/commands.h"

namespace kvfuse::cli {

namespace {

util::Result<double> TimeOnce(engine::Engine& e, int depth, int n_prompt, int n_gen, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> pick(0, e.hparams().n_vocab - 1);
  const auto random_tokens = [&](int n) {
    std::vector<int32_t> tokens(n);
    for (auto& t : tokens) t = pick(rng);
    return tokens;
  };
  std::vector<float> logits;
  e.Reset();
  if (depth > 0) KVFUSE_RETURN_IF_ERROR(e.Evaluate(random_tokens(depth), 0, false, logits));
  const auto t0 = std::chrono::steady_clock::now();
  if (n_prompt > 0) KVFUSE_RETURN_IF_ERROR(e.Evaluate(random_tokens(n_prompt), depth, false, logits));
  for (int i = 0; i < n_gen; ++i) KVFUSE_RETURN_IF_ERROR(e.Evaluate(random_tokens(1), depth + n_prompt + i, false, logits));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The process's peak resident set, in bytes (Linux reports KiB).
int64_t PeakRssBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace

int BenchCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"-m", "-p", "-n", "-t", "-r", "-d", "--kernels"}, {"--json"});
  if (!args.ok()) return Fail(args.status().message());
  auto n_prompt = args->GetInt("-p", 512);
  auto n_gen = args->GetInt("-n", 128);
  auto reps = args->GetInt("-r", 5);
  auto depth_arg = args->GetInt("-d", 0);
  for (const util::Status* st : {&n_prompt.status(), &n_gen.status(), &reps.status(), &depth_arg.status()})
    if (!st->ok()) return Fail(st->message());
  if (n_prompt.value() < 0 || n_gen.value() < 0 || reps.value() < 1 || depth_arg.value() < 0)
    return Fail("-p, -n and -d must be >= 0 and -r >= 1");
  const int depth = static_cast<int>(depth_arg.value());
  const int ctx = depth + static_cast<int>(std::max(n_prompt.value(), n_gen.value()));
  auto engine = LoadEngine(args.value(), std::max(ctx, 1));
  if (!engine.ok()) return Fail(engine.status().message());
  engine::Engine& e = *engine.value();
  std::mt19937 rng(1234);
  // K and V, f16, every layer, every slot.
  const int64_t kv_bytes = 2 * static_cast<int64_t>(e.model().kv_geometry().row_elements()) * 2 *
                           e.model().kv_geometry().n_layers * e.n_ctx();

  struct Test {
    const char* name;
    int n_prompt, n_gen;
  };
  std::vector<Test> tests;
  if (n_prompt.value() > 0) tests.push_back({"pp", static_cast<int>(n_prompt.value()), 0});
  if (n_gen.value() > 0) tests.push_back({"tg", 0, static_cast<int>(n_gen.value())});
  const bool json = args->Has("--json");
  const std::string model = args->Get("-m");
  if (json) std::printf("[\n");
  else std::printf("| model | test | t/s |\n| --- | --- | --- |\n");
  for (size_t ti = 0; ti < tests.size(); ++ti) {
    const Test& t = tests[ti];
    auto warm = TimeOnce(e, depth, t.n_prompt, t.n_gen, rng);
    if (!warm.ok()) return Fail(warm.status().message());
    std::vector<double> rates;
    for (int r = 0; r < reps.value(); ++r) {
      auto s = TimeOnce(e, depth, t.n_prompt, t.n_gen, rng);
      if (!s.ok()) return Fail(s.status().message());
      rates.push_back((t.n_prompt + t.n_gen) / s.value());
    }
    const double mean = Mean(rates), stddev = SampleStddev(rates, mean);
    const int n = t.n_prompt + t.n_gen;
    const std::string at = depth > 0 ? " @ d" + std::to_string(depth) : "";
    if (json) {
      std::printf("  {\"model\": \"%s\", \"test\": \"%s%d%s\", \"n_prompt\": %d, \"n_gen\": %d, \"n_depth\": %d, "
                  "\"threads\": %s, \"avg_ts\": %.3f, \"stddev_ts\": %.3f, \"peak_rss_bytes\": %lld, \"kv_bytes\": %lld}%s\n",
                  model.c_str(), t.name, n, at.c_str(), t.n_prompt, t.n_gen, depth, args->Get("-t", "2").c_str(), mean,
                  stddev, static_cast<long long>(PeakRssBytes()), static_cast<long long>(kv_bytes),
                  ti + 1 < tests.size() ? "," : "");
    } else {
      std::printf("| %s | %s%d%s | %.2f ± %.2f |\n", model.c_str(), t.name, n, at.c_str(), mean, stddev);
    }
    std::fflush(stdout);
  }
  if (json) std::printf("]\n");
  else
    std::printf("\nmemory: peak RSS %.1f MiB; KV cache %.1f MiB (a context of %d tokens)\n", PeakRssBytes() / 1048576.0,
                kv_bytes / 1048576.0, e.n_ctx());
  return 0;
}

}  // namespace kvfuse::cli
