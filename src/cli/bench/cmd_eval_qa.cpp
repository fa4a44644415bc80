// kvfuse eval-qa: exact-match accuracy of a model on the held-out questions of the demo
// world (tools/demo/), per question kind and fusion mode. Each prompt is a
// SegmentedPrompt whose chunks are the documents holding the facts plus distractors, in
// shuffled order (the two chunks of a coreference question stay adjacent), formatted as
// the model was trained (demo-world/format.json).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/bench/bench_commands.h"
#include "cli/bench/chunk_variants.h"
#include "cli/commands.h"
#include "cli/fusion_flags.h"
#include "engine/generate_sync.h"

namespace kvfuse::cli {

namespace {

using nlohmann::json;

// Which held-out questions: all, or one of two disjoint halves, so that settings chosen on
// the validation half (even-numbered questions) are reported on the test half (odd).
enum class QuestionSplit { kAll, kValidation, kTest };

struct EvalQaOptions {
  Args engine_args;  // what LoadEngine reads: -m, -t
  std::string world;
  QuestionSplit split = QuestionSplit::kAll;
  long long n_questions = 0;
  int n_chunks = 0;
  engine::FusionOptions knobs;  // each mode's parameters (the mode is set per run)
  uint32_t seed = 0;
  std::vector<engine::FusionMode> modes;
  bool json = false;
};

util::Result<EvalQaOptions> ParseOptions(int argc, char** argv) {
  std::set<std::string> value_options = {"-m", "-t", "--world", "--mode", "-n", "--chunks", "--seed", "--split"};
  value_options.merge(FusionKnobFlags());
  auto parsed = Args::Parse(argc, argv, value_options, {"--json"});
  if (!parsed.ok()) return parsed.status();
  const Args& args = parsed.value();
  EvalQaOptions o;
  o.world = args.Get("--world", "models/demo-world");
  auto n_questions = args.GetInt("-n", 200);
  auto n_chunks = args.GetInt("--chunks", 4);
  auto seed = args.GetInt("--seed", 7);
  auto knobs = FusionKnobsFromArgs(args);
  for (const util::Status* st : {&n_questions.status(), &n_chunks.status(), &seed.status(), &knobs.status()})
    if (!st->ok()) return *st;
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
  o.engine_args = args;
  return o;
}

util::Result<std::vector<json>> ReadJsonLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return util::Status::Error("cannot read " + path);
  std::vector<json> rows;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    json row = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded() || !row.is_object())
      return util::Status::Error(util::StrFormat("%s:%d: not a JSON object", path.c_str(), n));
    rows.push_back(std::move(row));
  }
  return rows;
}

struct Question {
  std::string text, answer, kind;
  std::vector<std::string> docs;
  bool adjacent = false;
};

// The held-out part of the demo world.
struct DemoWorld {
  json format;                              // "prefix", "chunk" ({text}) and "suffix" ({q})
  std::map<std::string, std::string> docs;  // text by id
  std::vector<Question> questions;
};

// The first max_questions questions of the split (at least one), each referring to known
// documents.
util::Result<std::vector<Question>> ReadQuestions(const std::vector<json>& rows,
                                                  const std::map<std::string, std::string>& docs,
                                                  QuestionSplit split, long long max_questions) {
  std::vector<Question> questions;
  for (size_t i = 0; i < rows.size(); ++i) {
    if ((split == QuestionSplit::kValidation && i % 2 != 0) || (split == QuestionSplit::kTest && i % 2 == 0))
      continue;
    const json& q = rows[i];
    Question x{q.value("question", ""), q.value("answer", ""), q.value("kind", ""), {}, q.value("adjacent", false)};
    for (const json& d : q.value("docs", json::array())) {
      if (!d.is_string() || !docs.count(d.get<std::string>()))
        return util::Status::Error("question refers to an unknown document");
      x.docs.push_back(d.get<std::string>());
    }
    questions.push_back(std::move(x));
    if (static_cast<long long>(questions.size()) >= max_questions) break;
  }
  return questions;
}

util::Result<DemoWorld> LoadDemoWorld(const std::string& dir, QuestionSplit split, long long max_questions) {
  DemoWorld world;
  std::ifstream format_file(dir + "/format.json");
  world.format = json::parse(format_file, nullptr, false);
  const json& f = world.format;
  if (f.is_discarded() || !f.contains("prefix") || !f.contains("chunk") || !f.contains("suffix"))
    return util::Status::Error("cannot read the prompt format " + dir + "/format.json");
  auto doc_rows = ReadJsonLines(dir + "/eval-docs.jsonl");
  if (!doc_rows.ok()) return doc_rows.status();
  auto question_rows = ReadJsonLines(dir + "/eval-questions.jsonl");
  if (!question_rows.ok()) return question_rows.status();
  for (const json& d : doc_rows.value()) world.docs[d.value("id", "")] = d.value("text", "");
  auto questions = ReadQuestions(question_rows.value(), world.docs, split, max_questions);
  if (!questions.ok()) return questions.status();
  world.questions = std::move(questions.value());
  return world;
}

std::string Replace(std::string s, const std::string& key, const std::string& value) {
  if (size_t p = s.find(key); p != std::string::npos) s.replace(p, key.size(), value);
  return s;
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \n\t"), e = s.find_last_not_of(" \n\t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// A question's prompt: its documents plus distractors, n_chunks chunks in all.
class PromptBuilder {
 public:
  PromptBuilder(const DemoWorld& world, const tokenizer::Tokenizer& tok, int n_chunks)
      : world_(world), tok_(tok), n_chunks_(n_chunks) {
    for (const auto& [id, text] : world.docs)
      if (id.empty() || id.back() != 'b') distractor_ids_.push_back(id);  // never a pronoun-only chunk
  }

  engine::SegmentedPrompt Build(const Question& q, std::mt19937& rng) const {
    std::vector<std::string> pool;
    for (const std::string& id : distractor_ids_)
      if (std::find(q.docs.begin(), q.docs.end(), id) == q.docs.end()) pool.push_back(id);
    std::shuffle(pool.begin(), pool.end(), rng);
    std::vector<std::vector<std::string>> groups;
    for (size_t i = 0; i + q.docs.size() < static_cast<size_t>(n_chunks_) && i < pool.size(); ++i)
      groups.push_back({pool[i]});
    if (q.adjacent) groups.push_back(q.docs);
    else for (const std::string& d : q.docs) groups.push_back({d});
    std::shuffle(groups.begin(), groups.end(), rng);
    const json& format = world_.format;
    engine::SegmentedPrompt p;
    p.prefix = tok_.Encode(format["prefix"].get<std::string>(), false, true);
    for (const auto& g : groups)
      for (const std::string& d : g)
        p.chunks.push_back(tok_.Encode(Replace(format["chunk"].get<std::string>(), "{text}", world_.docs.at(d)), false));
    p.suffix = tok_.Encode(Replace(format["suffix"].get<std::string>(), "{q}", q.text), false, true);
    return p;
  }

 private:
  const DemoWorld& world_;
  const tokenizer::Tokenizer& tok_;
  int n_chunks_;
  std::vector<std::string> distractor_ids_;
};

struct Score {
  int correct = 0, total = 0;
};

struct QaScores {
  std::map<std::string, std::map<std::string, Score>> by_mode_and_kind;
  std::map<std::string, double> recomputed_share;  // by mode: chunk tokens recomputed / chunk tokens
};

// Adaptive needs chunks cached inside earlier prompts: full prefills of the same
// questions with other distractors and another order record them first.
util::Status RecordQuestionHistory(engine::Engine& e, const PromptBuilder& prompts,
                                   const std::vector<Question>& questions, uint32_t seed) {
  std::mt19937 history_rng(seed + 1);
  std::vector<engine::SegmentedPrompt> history;
  for (const Question& q : questions) history.push_back(prompts.Build(q, history_rng));
  return RecordChunkVariants(e, history);
}

util::Status EvaluateMode(engine::Engine& e, const PromptBuilder& prompts, const std::vector<Question>& questions,
                          const EvalQaOptions& o, engine::FusionMode mode, QaScores& scores) {
  const std::string mode_name = engine::FusionModeName(mode);
  e.Reset();
  e.ClearPrefixCache();
  if (mode == engine::FusionMode::kAdaptive) KVFUSE_RETURN_IF_ERROR(RecordQuestionHistory(e, prompts, questions, o.seed));
  std::mt19937 rng(o.seed);
  double recomputed_tokens = 0, chunk_tokens = 0;
  for (const Question& q : questions) {
    engine::SyncRequest request;  // greedy, 16 tokens at most
    request.fusion = o.knobs;
    request.fusion.mode = mode;
    auto answer = engine::GenerateSync(e, prompts.Build(q, rng), request);
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

void PrintJson(const QaScores& scores) {
  json out = json::array();
  for (const auto& [mode, by_kind] : scores.by_mode_and_kind) {
    json row{{"mode", mode}, {"recomputed_share", scores.recomputed_share.at(mode)}};
    for (const auto& [kind, s] : by_kind) row[kind] = {{"correct", s.correct}, {"total", s.total}};
    out.push_back(row);
  }
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
    std::printf("| %s | %.0f%% |", name.c_str(), 100 * scores.recomputed_share.at(name));
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
  const PromptBuilder prompts(world.value(), *e.tokenizer(), o.n_chunks);
  QaScores scores;
  for (engine::FusionMode mode : o.modes) {
    const util::Status st = EvaluateMode(e, prompts, world->questions, o, mode, scores);
    if (!st.ok()) return Fail(st.message());
  }
  if (o.json) PrintJson(scores);
  else PrintTable(scores, o.modes, world->questions);
  return 0;
}

}  // namespace kvfuse::cli
