// kvfuse eval-qa: exact-match accuracy of a model on the held-out questions of the demo
// world (tools/demo/), per question kind and fusion mode. By default each prompt is a
// SegmentedPrompt whose chunks are the documents holding the facts plus distractors, in
// shuffled order (the two chunks of a coreference question stay adjacent), formatted as
// the model was trained (demo-world/format.json). With --e2e DIR the chunks are retrieved
// from a collection, as `kvfuse ask` answers a user.
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/bench/bench_commands.h"
#include "cli/bench/chunk_variants.h"
#include "cli/bench/demo_world.h"
#include "cli/bench/retrieved_prompts.h"
#include "cli/bench/svg_scatter.h"
#include "cli/commands.h"
#include "cli/fusion_flags.h"
#include "engine/generate_sync.h"
#include "util/atomic_file.h"

namespace kvfuse::cli {

namespace {

using nlohmann::json;

struct EvalQaOptions {
  Args engine_args;  // what LoadEngine reads: -m, -t
  std::string world;
  std::string e2e_collection;  // empty: gold chunks plus distractors
  size_t top_k = 6;            // chunks retrieved under --e2e
  QuestionSplit split = QuestionSplit::kAll;
  long long n_questions = 0;
  int n_chunks = 0;
  engine::FusionOptions knobs;  // each mode's parameters (the mode is set per run)
  uint32_t seed = 0;
  std::vector<engine::FusionMode> modes;
  bool sweep = false;     // the methods at several shares instead of `modes`
  std::string plot_path;     // an SVG of accuracy against time to first token
  std::string answers_path;  // JSONL: every run's answer to every question, with its chunks
  bool json = false;
};

util::Result<EvalQaOptions> ParseOptions(int argc, char** argv) {
  std::set<std::string> value_options = {"-m", "-t", "--world", "--mode", "-n", "--chunks", "--seed", "--split",
                                         "--e2e", "-k", "--plot", "--answers"};
  value_options.merge(FusionKnobFlags());
  auto parsed = Args::Parse(argc, argv, value_options, {"--json", "--sweep"});
  if (!parsed.ok()) return parsed.status();
  const Args& args = parsed.value();
  EvalQaOptions o;
  o.world = args.Get("--world", "models/demo-world");
  auto n_questions = args.GetInt("-n", 200);
  auto n_chunks = args.GetInt("--chunks", 4);
  auto seed = args.GetInt("--seed", 7);
  auto top_k = args.GetInt("-k", 6);
  auto knobs = FusionKnobsFromArgs(args);
  for (const util::Status* st : {&n_questions.status(), &n_chunks.status(), &seed.status(), &top_k.status(), &knobs.status()})
    if (!st->ok()) return *st;
  if (top_k.value() < 1 || top_k.value() > 64) return util::Status::InvalidArgument("-k must be 1..64");
  if (n_questions.value() < 1) return util::Status::InvalidArgument("-n must be 1 or more (questions asked)");
  if (seed.value() < 0 || seed.value() > UINT32_MAX) return util::Status::InvalidArgument("--seed must be 0..4294967295");
  if (n_chunks.value() < 2 || n_chunks.value() > 64) return util::Status::Error("--chunks must be 2..64");
  using engine::FusionMode;
  auto modes = FusionModesFromArg(args.Get("--mode", "all"), {FusionMode::kFull, FusionMode::kNaive, FusionMode::kBlend,
                                                             FusionMode::kGradual, FusionMode::kAdaptive, FusionMode::kSinks,
                                                             FusionMode::kQuery, FusionMode::kApe});
  if (!modes.ok()) return modes.status();
  KVFUSE_RETURN_IF_ERROR(RefuseKnobsNotReadBy(args, modes.value()));
  o.modes = std::move(modes).value();
  o.knobs = knobs.value();
  const std::string split = args.Get("--split", "all");
  if (split == "validation") o.split = QuestionSplit::kValidation;
  else if (split == "test") o.split = QuestionSplit::kTest;
  else if (split != "all") return util::Status::InvalidArgument("--split must be all, validation or test");
  o.n_questions = n_questions.value();
  o.n_chunks = static_cast<int>(n_chunks.value());
  o.seed = static_cast<uint32_t>(seed.value());
  o.json = args.Has("--json");
  o.e2e_collection = args.Get("--e2e");
  o.sweep = args.Has("--sweep");
  o.plot_path = args.Get("--plot");
  o.answers_path = args.Get("--answers");
  for (const std::string& flag : FusionKnobFlags())
    if (o.sweep && args.Has(flag)) return util::Status::InvalidArgument("--sweep sets every knob itself: drop " + flag);
  if (o.sweep && args.Has("--mode")) return util::Status::InvalidArgument("--sweep runs its own modes: drop --mode");
  if (o.e2e_collection.empty() && args.Has("-k"))
    return util::Status::InvalidArgument("-k counts retrieved chunks: it needs --e2e (gold prompts take --chunks)");
  o.top_k = static_cast<size_t>(top_k.value());
  o.engine_args = args;
  return o;
}

struct Score {
  int correct = 0, total = 0;
};

// One row of the results: a mode with its knobs.
struct EvalRun {
  std::string label;  // the mode's name, or under --sweep also its knob ("query r=0.1")
  engine::FusionOptions fusion;
  bool is_default = false;  // the default mode with the default knobs
};

struct RunScores {
  std::map<std::string, Score> by_kind;
  std::vector<std::string> answers;  // per question, as generated
  double recomputed_share = 0;  // chunk tokens recomputed / chunk tokens
  double mean_ttft_ms = 0;
};

// --mode's modes with the command's knobs, or under --sweep each method at several shares.
std::vector<EvalRun> RunsOf(const EvalQaOptions& o) {
  const engine::FusionOptions defaults;
  std::vector<EvalRun> runs;
  const auto add = [&](const std::string& label, engine::FusionMode mode, const engine::FusionOptions& knobs) {
    engine::FusionOptions f = knobs;
    f.mode = mode;
    runs.push_back({label, f, engine::IsDefaultFusion(f)});
  };
  if (!o.sweep) {
    // Adaptive last: the chunk variants it records replace the chunks cached alone that
    // every other mode places.
    std::vector<engine::FusionMode> modes = o.modes;
    std::stable_partition(modes.begin(), modes.end(), [](engine::FusionMode m) { return m != engine::FusionMode::kAdaptive; });
    for (engine::FusionMode mode : modes) add(engine::FusionModeName(mode), mode, o.knobs);
    return runs;
  }
  using engine::FusionMode;
  add("full", FusionMode::kFull, defaults);
  add("naive", FusionMode::kNaive, defaults);
  for (int32_t k : {2, 8}) {
    engine::FusionOptions f = defaults;
    f.sink_tokens = k;
    add(util::StrFormat("sinks k=%d", k), FusionMode::kSinks, f);
  }
  for (FusionMode mode : {FusionMode::kBlend, FusionMode::kGradual, FusionMode::kQuery})
    for (float r : {0.05f, defaults.recompute_ratio, 0.3f, 0.5f}) {
      engine::FusionOptions f = defaults;
      f.recompute_ratio = r;
      add(util::StrFormat("%s r=%.2f", engine::FusionModeName(mode), r), mode, f);
    }
  add("adaptive", FusionMode::kAdaptive, defaults);
  return runs;
}

// The questions' prompts, and for adaptive, which needs chunks cached inside earlier
// prompts, a history of the same questions with other distractors (gold) or another order
// (retrieved) whose full prefills record them first.
struct QuestionPrompts {
  std::vector<engine::SegmentedPrompt> asked, history;
  std::map<std::string, double> recall;  // --e2e: retrieval's recall by question kind
};

util::Result<QuestionPrompts> MakePrompts(engine::Engine& e, const DemoWorld& world, const EvalQaOptions& o) {
  QuestionPrompts out;
  std::mt19937 rng(o.seed), history_rng(o.seed + 1);
  if (o.e2e_collection.empty()) {
    const PromptBuilder builder(world, *e.tokenizer(), o.n_chunks);
    for (const Question& q : world.questions) out.asked.push_back(builder.Build(q, rng));
    for (const Question& q : world.questions) out.history.push_back(builder.Build(q, history_rng));
    return out;
  }
  auto retrieved = RetrievePrompts(e, o.e2e_collection, world, o.top_k);
  if (!retrieved.ok()) return retrieved.status();
  out.asked = std::move(retrieved->prompts);
  out.recall = std::move(retrieved->recall);
  out.history = out.asked;
  for (engine::SegmentedPrompt& p : out.history) std::shuffle(p.chunks.begin(), p.chunks.end(), history_rng);
  return out;
}

util::Result<RunScores> Evaluate(engine::Engine& e, const QuestionPrompts& prompts,
                                 const std::vector<Question>& questions, const EvalRun& run) {
  e.Reset();
  e.ClearPrefixCache();
  if (run.fusion.mode == engine::FusionMode::kAdaptive) KVFUSE_RETURN_IF_ERROR(RecordChunkVariants(e, prompts.history));
  RunScores scores;
  double recomputed_tokens = 0, chunk_tokens = 0;
  for (size_t i = 0; i < questions.size(); ++i) {
    engine::SyncRequest request;  // greedy, 16 tokens at most
    request.fusion = run.fusion;
    auto answer = engine::GenerateSync(e, prompts.asked[i], request);
    if (!answer.ok()) return answer.status();
    recomputed_tokens += answer->stats.chunk_tokens_recomputed;
    chunk_tokens += answer->stats.chunk_tokens;
    scores.mean_ttft_ms += answer->ttft_ms / static_cast<double>(questions.size());
    Score& s = scores.by_kind[questions[i].kind];
    scores.answers.push_back(Trim(e.tokenizer()->Decode(answer->tokens)));
    s.correct += scores.answers.back() == questions[i].answer;
    ++s.total;
  }
  scores.recomputed_share = chunk_tokens > 0 ? recomputed_tokens / chunk_tokens : 0;
  return scores;
}

// An array with a row per run; under --e2e, a last row {"retrieval_recall": {kind: share}, "k": k}.
void PrintJson(const std::vector<EvalRun>& runs, const std::vector<RunScores>& scores, const QuestionPrompts& prompts,
               const EvalQaOptions& o) {
  json out = json::array();
  for (size_t i = 0; i < runs.size(); ++i) {
    json row{{"mode", runs[i].label},
             {"recomputed_share", scores[i].recomputed_share},
             {"mean_ttft_ms", scores[i].mean_ttft_ms}};
    if (runs[i].is_default) row["default"] = true;
    for (const auto& [kind, s] : scores[i].by_kind) row[kind] = {{"correct", s.correct}, {"total", s.total}};
    out.push_back(row);
  }
  if (!o.e2e_collection.empty()) out.push_back({{"retrieval_recall", prompts.recall}, {"k", o.top_k}});
  std::printf("%s\n", out.dump(2).c_str());
}

// A line per run and question: what it answered, what was expected, and the prompt's chunks.
util::Status WriteAnswers(const std::string& path, const engine::Engine& e, const std::vector<EvalRun>& runs,
                          const std::vector<RunScores>& scores, const QuestionPrompts& prompts,
                          const std::vector<Question>& questions) {
  std::string lines;
  for (size_t r = 0; r < runs.size(); ++r)
    for (size_t i = 0; i < questions.size(); ++i) {
      json chunks = json::array();
      for (const std::vector<int32_t>& c : prompts.asked[i].chunks) chunks.push_back(e.tokenizer()->Decode(c));
      lines += json{{"mode", runs[r].label},       {"question", questions[i].text}, {"kind", questions[i].kind},
                    {"expected", questions[i].answer}, {"answer", scores[r].answers[i]}, {"chunks", chunks}}
                   .dump(-1, ' ', false, json::error_handler_t::replace) +
               "\n";
    }
  return util::WriteFileAtomically(path, lines);
}

// A Markdown table: a row per run, a column per question kind.
void PrintTable(const std::vector<EvalRun>& runs, const std::vector<RunScores>& scores,
                const std::vector<Question>& questions) {
  std::set<std::string> kinds;
  for (const Question& q : questions) kinds.insert(q.kind);
  std::printf("| mode | recomputed | TTFT ms |");
  for (const std::string& k : kinds) std::printf(" %s |", k.c_str());
  std::printf("\n| --- | --- | --- |");
  for (size_t i = 0; i < kinds.size(); ++i) std::printf(" --- |");
  std::printf("\n");
  for (size_t i = 0; i < runs.size(); ++i) {
    std::printf("| %s%s | %.0f%% | %.1f |", runs[i].label.c_str(), runs[i].is_default ? " (default)" : "",
                100 * scores[i].recomputed_share, scores[i].mean_ttft_ms);
    for (const std::string& k : kinds) {
      const auto it = scores[i].by_kind.find(k);
      const Score s = it == scores[i].by_kind.end() ? Score{} : it->second;
      std::printf(" %.1f%% (%d/%d) |", s.total ? 100.0 * s.correct / s.total : 0.0, s.correct, s.total);
    }
    std::printf("\n");
  }
}

// Accuracy on single- and multi-hop questions against mean time to first token, a point
// per run.
util::Status WritePlot(const std::string& path, const std::vector<EvalRun>& runs, const std::vector<RunScores>& scores) {
  SvgScatter plot{"Accuracy against time to first token (eval-qa)", "mean TTFT (ms)", "exact-match accuracy (%)", {}};
  for (const char* kind : {"single", "multi"}) {
    SvgScatter::Series& series = plot.series.emplace_back();
    series.name = kind;
    for (size_t i = 0; i < runs.size(); ++i) {
      const auto it = scores[i].by_kind.find(kind);
      if (it == scores[i].by_kind.end() || it->second.total == 0) continue;
      series.points.push_back(
          {scores[i].mean_ttft_ms, 100.0 * it->second.correct / it->second.total, runs[i].label});
    }
  }
  return WriteSvg(path, plot);
}

}  // namespace

int EvalQaCommand(int argc, char** argv) {
  auto options = ParseOptions(argc, argv);
  if (!options.ok()) return Fail(options.status().message());
  const EvalQaOptions& o = options.value();
  auto world = LoadDemoWorld(o.world, o.split, o.n_questions);
  if (!world.ok()) return Fail(world.status().message());

  auto loaded = LoadEngine(o.engine_args, 4096);
  if (!loaded.ok()) return Fail(loaded.status().message());
  engine::Engine& e = *loaded.value();
  if (!e.tokenizer()) return Fail("cannot tokenize: " + e.tokenizer_error());
  auto prompts = MakePrompts(e, world.value(), o);
  if (!prompts.ok()) return Fail(prompts.status().message());
  // Every chunk in the store first, so that no run's time to first token pays for computing
  // chunks (the chunk store starts empty; the first fused run would).
  for (const engine::SegmentedPrompt& p : prompts->asked)
    for (const std::vector<int32_t>& chunk : p.chunks)
      if (const util::Status st = e.WarmChunk(chunk); !st.ok()) return Fail(st.message());
  const std::vector<EvalRun> runs = RunsOf(o);
  std::vector<RunScores> scores;
  for (const EvalRun& run : runs) {
    auto run_scores = Evaluate(e, prompts.value(), world->questions, run);
    if (!run_scores.ok()) return Fail(run_scores.status().message());
    scores.push_back(std::move(run_scores).value());
  }
  if (!o.plot_path.empty())
    if (const util::Status st = WritePlot(o.plot_path, runs, scores); !st.ok()) return Fail(st.message());
  if (!o.answers_path.empty())
    if (const util::Status st = WriteAnswers(o.answers_path, e, runs, scores, prompts.value(), world->questions); !st.ok())
      return Fail(st.message());
  if (o.json) {
    PrintJson(runs, scores, prompts.value(), o);
    return 0;
  }
  PrintTable(runs, scores, world->questions);
  if (!o.e2e_collection.empty()) {
    std::printf("\nretrieval recall@%zu:", o.top_k);
    for (const auto& [kind, recall] : prompts->recall) std::printf(" %s %.2f", kind.c_str(), recall);
    std::printf("\n");
  }
  return 0;
}

}  // namespace kvfuse::cli
