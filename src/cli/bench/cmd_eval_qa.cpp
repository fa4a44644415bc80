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
#include "cli/commands.h"
#include "cli/fusion_flags.h"
#include "engine/generate_sync.h"

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
  bool json = false;
};

util::Result<EvalQaOptions> ParseOptions(int argc, char** argv) {
  std::set<std::string> value_options = {"-m", "-t", "--world", "--mode", "-n", "--chunks", "--seed", "--split",
                                         "--e2e", "-k"};
  value_options.merge(FusionKnobFlags());
  auto parsed = Args::Parse(argc, argv, value_options, {"--json"});
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
  if (n_chunks.value() < 2 || n_chunks.value() > 64) return util::Status::Error("--chunks must be 2..64");
  using engine::FusionMode;
  auto modes = FusionModesFromArg(args.Get("--mode", "all"), {FusionMode::kFull, FusionMode::kNaive, FusionMode::kBlend,
                                                             FusionMode::kAdaptive, FusionMode::kSinks, FusionMode::kQuery});
  if (!modes.ok()) return modes.status();
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
  o.top_k = static_cast<size_t>(top_k.value());
  o.engine_args = args;
  return o;
}

struct Score {
  int correct = 0, total = 0;
};

struct QaScores {
  std::map<std::string, std::map<std::string, Score>> by_mode_and_kind;
  std::map<std::string, double> recomputed_share;  // by mode: chunk tokens recomputed / chunk tokens
};

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

util::Status EvaluateMode(engine::Engine& e, const QuestionPrompts& prompts, const std::vector<Question>& questions,
                          const EvalQaOptions& o, engine::FusionMode mode, QaScores& scores) {
  const std::string mode_name = engine::FusionModeName(mode);
  e.Reset();
  e.ClearPrefixCache();
  if (mode == engine::FusionMode::kAdaptive) KVFUSE_RETURN_IF_ERROR(RecordChunkVariants(e, prompts.history));
  double recomputed_tokens = 0, chunk_tokens = 0;
  for (size_t i = 0; i < questions.size(); ++i) {
    const Question& q = questions[i];
    engine::SyncRequest request;  // greedy, 16 tokens at most
    request.fusion = o.knobs;
    request.fusion.mode = mode;
    auto answer = engine::GenerateSync(e, prompts.asked[i], request);
    if (!answer.ok()) return answer.status();
    recomputed_tokens += answer->stats.chunk_tokens_recomputed;
    chunk_tokens += answer->stats.chunk_tokens;
    Score& s = scores.by_mode_and_kind[mode_name][q.kind];
    s.correct += Trim(e.tokenizer()->Decode(answer->tokens)) == q.answer;
    ++s.total;
  }
  scores.recomputed_share[mode_name] = chunk_tokens > 0 ? recomputed_tokens / chunk_tokens : 0;
  return util::Status::Ok();
}

bool IsDefaultMode(const std::string& name) { return name == engine::FusionModeName(engine::kDefaultReuseMode); }

// An array with a row per mode; under --e2e, a last row {"retrieval_recall": {kind: share}, "k": k}.
void PrintJson(const QaScores& scores, const QuestionPrompts& prompts, const EvalQaOptions& o) {
  json out = json::array();
  for (const auto& [mode, by_kind] : scores.by_mode_and_kind) {
    json row{{"mode", mode}, {"recomputed_share", scores.recomputed_share.at(mode)}};
    if (IsDefaultMode(mode)) row["default"] = true;
    for (const auto& [kind, s] : by_kind) row[kind] = {{"correct", s.correct}, {"total", s.total}};
    out.push_back(row);
  }
  if (!o.e2e_collection.empty()) out.push_back({{"retrieval_recall", prompts.recall}, {"k", o.top_k}});
  std::printf("%s\n", out.dump(2).c_str());
}

// A Markdown table: a row per mode, a column per question kind.
void PrintTable(const QaScores& scores, const std::vector<engine::FusionMode>& modes,
                const std::vector<Question>& questions) {
  std::set<std::string> kinds;
  for (const Question& q : questions) kinds.insert(q.kind);
  std::printf("| mode | recomputed |");
  for (const std::string& k : kinds) std::printf(" %s |", k.c_str());
  std::printf("\n| --- | --- |");
  for (size_t i = 0; i < kinds.size(); ++i) std::printf(" --- |");
  std::printf("\n");
  for (engine::FusionMode mode : modes) {
    const std::string name = engine::FusionModeName(mode);
    std::printf("| %s%s | %.0f%% |", name.c_str(), IsDefaultMode(name) ? " (default)" : "",
                100 * scores.recomputed_share.at(name));
    const auto by_kind = scores.by_mode_and_kind.find(name);
    for (const std::string& k : kinds) {
      Score s;
      if (by_kind != scores.by_mode_and_kind.end() && by_kind->second.count(k)) s = by_kind->second.at(k);
      std::printf(" %.1f%% (%d/%d) |", s.total ? 100.0 * s.correct / s.total : 0.0, s.correct, s.total);
    }
    std::printf("\n");
  }
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
  QaScores scores;
  for (engine::FusionMode mode : o.modes) {
    const util::Status st = EvaluateMode(e, prompts.value(), world->questions, o, mode, scores);
    if (!st.ok()) return Fail(st.message());
  }
  if (o.json) {
    PrintJson(scores, prompts.value(), o);
    return 0;
  }
  PrintTable(scores, o.modes, world->questions);
  if (!o.e2e_collection.empty()) {
    std::printf("\nretrieval recall@%zu:", o.top_k);
    for (const auto& [kind, recall] : prompts->recall) std::printf(" %s %.2f", kind.c_str(), recall);
    std::printf("\n");
  }
  return 0;
}

}  // namespace kvfuse::cli
