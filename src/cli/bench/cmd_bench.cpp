// kvfuse bench: prompt processing (pp) and text generation (tg) speed, measured like
// llama-bench: pp = one prompt of P random tokens from an empty cache; tg = N single-token
// steps from an empty cache; each repeated -r times after one warm-up run.
#include <chrono>
#include <cstdio>
#include <random>

#include "cli/bench/bench_commands.h"
#include "cli/bench/stats.h"
#include "cli/commands.h"

namespace kvfuse::cli {

namespace {

util::Result<double> TimeOnce(engine::Engine& e, int n_prompt, int n_gen, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> pick(0, e.hparams().n_vocab - 1);
  std::vector<float> logits;
  e.Reset();
  const auto t0 = std::chrono::steady_clock::now();
  if (n_prompt > 0) {
    std::vector<int32_t> prompt(n_prompt);
    for (auto& t : prompt) t = pick(rng);
    util::Status st = e.Evaluate(prompt, 0, false, logits);
    if (!st.ok()) return st;
  }
  for (int i = 0; i < n_gen; ++i) {
    util::Status st = e.Evaluate({pick(rng)}, i, false, logits);
    if (!st.ok()) return st;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int BenchCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"-m", "-p", "-n", "-t", "-r"}, {"--json"});
  if (!args.ok()) return Fail(args.status().message());
  auto n_prompt = args->GetInt("-p", 512);
  auto n_gen = args->GetInt("-n", 128);
  auto reps = args->GetInt("-r", 5);
  for (const util::Status* st : {&n_prompt.status(), &n_gen.status(), &reps.status()})
    if (!st->ok()) return Fail(st->message());
  if (n_prompt.value() < 0 || n_gen.value() < 0 || reps.value() < 1)
    return Fail("-p and -n must be >= 0 and -r >= 1");
  const int ctx = static_cast<int>(std::max(n_prompt.value(), n_gen.value()));
  auto engine = LoadEngine(args.value(), std::max(ctx, 1));
  if (!engine.ok()) return Fail(engine.status().message());
  engine::Engine& e = *engine.value();
  std::mt19937 rng(1234);

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
    auto warm = TimeOnce(e, t.n_prompt, t.n_gen, rng);
    if (!warm.ok()) return Fail(warm.status().message());
    std::vector<double> rates;
    for (int r = 0; r < reps.value(); ++r) {
      auto s = TimeOnce(e, t.n_prompt, t.n_gen, rng);
      if (!s.ok()) return Fail(s.status().message());
      rates.push_back((t.n_prompt + t.n_gen) / s.value());
    }
    const double mean = Mean(rates), stddev = SampleStddev(rates, mean);
    const int n = t.n_prompt + t.n_gen;
    if (json) {
      std::printf("  {\"model\": \"%s\", \"test\": \"%s%d\", \"n_prompt\": %d, \"n_gen\": %d, "
                  "\"threads\": %s, \"avg_ts\": %.3f, \"stddev_ts\": %.3f}%s\n",
                  model.c_str(), t.name, n, t.n_prompt, t.n_gen, args->Get("-t", "2").c_str(),
                  mean, stddev, ti + 1 < tests.size() ? "," : "");
    } else {
      std::printf("| %s | %s%d | %.2f ± %.2f |\n", model.c_str(), t.name, n, mean, stddev);
    }
    std::fflush(stdout);
  }
  if (json) std::printf("]\n");
  return 0;
}

}  // namespace kvfuse::cli
