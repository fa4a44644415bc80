// kvfuse eval-qa: exact-match accuracy of a model on the held-out questions of the demo
// world (tools/demo/), per question kind and fusion mode. Each prompt is a
// SegmentedPrompt whose chunks are the documents holding the facts plus distractors, in
// shuffled order (the two chunks of a coreference question stay adjacent), formatted as
// the model was trained (demo-world/format.json).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "engine/generate_sync.h"

namespace kvfuse::cli {

namespace {

using nlohmann::json;

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

std::string Replace(std::string s, const std::string& key, const std::string& value) {
  if (size_t p = s.find(key); p != std::string::npos) s.replace(p, key.size(), value);
  return s;
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \n\t"), e = s.find_last_not_of(" \n\t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

struct Question {
  std::string text, answer, kind;
  std::vector<std::string> docs;
  bool adjacent = false;
};

}  // namespace

int EvalQaCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"-m", "-t", "--world", "--mode", "-n", "--chunks", "--ratio", "--seed"},
                          {"--json"});
  if (!args.ok()) return Fail(args.status().message());
  const std::string world = args->Get("--world", "models/demo-world");
  auto n_questions = args->GetInt("-n", 200);
  auto n_chunks = args->GetInt("--chunks", 4);
  auto ratio = args->GetFloat("--ratio", 0.15);
  auto seed = args->GetInt("--seed", 7);
  for (const util::Status* st : {&n_questions.status(), &n_chunks.status(), &ratio.status(), &seed.status()})
    if (!st->ok()) return Fail(st->message());
  if (n_chunks.value() < 2 || n_chunks.value() > 64) return Fail("--chunks must be 2..64");
  std::vector<engine::FusionMode> modes;
  for (const std::string name : {"full", "naive", "blend", "adaptive"})
    if (args->Get("--mode", "all") == "all" || args->Get("--mode") == name) modes.push_back(*engine::ParseFusionMode(name));
  if (modes.empty()) return Fail("--mode must be full, naive, blend, adaptive or all");

  std::ifstream format_file(world + "/format.json");
  const json format = json::parse(format_file, nullptr, false);
  if (format.is_discarded() || !format.contains("prefix") || !format.contains("chunk") || !format.contains("suffix"))
    return Fail("cannot read the prompt format " + world + "/format.json");
  auto doc_rows = ReadJsonLines(world + "/eval-docs.jsonl");
  if (!doc_rows.ok()) return Fail(doc_rows.status().message());
  auto question_rows = ReadJsonLines(world + "/eval-questions.jsonl");
  if (!question_rows.ok()) return Fail(question_rows.status().message());
  std::map<std::string, std::string> docs;
  for (const json& d : doc_rows.value()) docs[d.value("id", "")] = d.value("text", "");
  std::vector<Question> questions;
  for (const json& q : question_rows.value()) {
    Question x{q.value("question", ""), q.value("answer", ""), q.value("kind", ""), {}, q.value("adjacent", false)};
    for (const json& d : q.value("docs", json::array())) {
      if (!d.is_string() || !docs.count(d.get<std::string>())) return Fail("question refers to an unknown document");
      x.docs.push_back(d.get<std::string>());
    }
    questions.push_back(std::move(x));
    if (static_cast<long long>(questions.size()) >= n_questions.value()) break;
  }

  auto loaded = LoadEngine(args.value(), 4096);
  if (!loaded.ok()) return Fail(loaded.status().message());
  engine::Engine& e = *loaded.value();
  if (!e.tokenizer()) return Fail("cannot tokenize: " + e.tokenizer_error());
  const auto& tok = *e.tokenizer();
  std::vector<std::string> distractor_ids;
  for (const auto& [id, text] : docs)
    if (id.empty() || id.back() != 'b') distractor_ids.push_back(id);  // never a pronoun-only chunk

  auto build = [&](const Question& q, std::mt19937& rng) {
    std::vector<std::string> pool;
    for (const std::string& id : distractor_ids)
      if (std::find(q.docs.begin(), q.docs.end(), id) == q.docs.end()) pool.push_back(id);
    std::shuffle(pool.begin(), pool.end(), rng);
    std::vector<std::vector<std::string>> groups;
    for (size_t i = 0; i + q.docs.size() < static_cast<size_t>(n_chunks.value()) && i < pool.size(); ++i)
      groups.push_back({pool[i]});
    if (q.adjacent) groups.push_back(q.docs);
    else for (const std::string& d : q.docs) groups.push_back({d});
    std::shuffle(groups.begin(), groups.end(), rng);
    engine::SegmentedPrompt p;
    p.prefix = tok.Encode(format["prefix"].get<std::string>(), false, true);
    for (const auto& g : groups)
      for (const std::string& d : g) p.chunks.push_back(tok.Encode(Replace(format["chunk"], "{text}", docs[d]), false));
    p.suffix = tok.Encode(Replace(format["suffix"], "{q}", q.text), false, true);
    return p;
  };

  // Adaptive needs chunks cached inside earlier prompts: full prefills of the same
  // questions with other distractors and another order record them first.
  struct Score {
    int correct = 0, total = 0;
  };
  std::map<std::string, std::map<std::string, Score>> scores;  // mode -> kind -> score
  std::map<std::string, double> recomputed;
  const bool json_out = args->Has("--json");
  for (engine::FusionMode mode : modes) {
    const std::string mode_name = engine::FusionModeName(mode);
    e.Reset();
    e.ClearPrefixCache();
    if (mode == engine::FusionMode::kAdaptive) {
      std::mt19937 history_rng(static_cast<uint32_t>(seed.value()) + 1);
      engine::FusionOptions record{engine::FusionMode::kFull};
      record.record_chunks = true;
      for (const Question& q : questions) {
        std::vector<float> logits;
        engine::FusionStats stats;
        const util::Status st = e.PrefillSegments(build(q, history_rng), record, logits, stats);
        if (!st.ok()) return Fail(st.message());
      }
    }
    std::mt19937 rng(static_cast<uint32_t>(seed.value()));
    double recomputed_tokens = 0, chunk_tokens = 0;
    for (const Question& q : questions) {
      engine::SyncRequest request;  // greedy, 16 tokens at most
      request.fusion = {mode, static_cast<float>(ratio.value())};
      auto answer = engine::GenerateSync(e, build(q, rng), request);
      if (!answer.ok()) return Fail(answer.status().message());
      recomputed_tokens += answer->stats.chunk_tokens_recomputed;
      chunk_tokens += answer->stats.chunk_tokens;
      Score& s = scores[mode_name][q.kind];
      s.correct += Trim(tok.Decode(answer->tokens)) == q.answer;
      ++s.total;
    }
    recomputed[mode_name] = chunk_tokens > 0 ? recomputed_tokens / chunk_tokens : 0;
  }

  std::set<std::string> kinds;
  for (const Question& q : questions) kinds.insert(q.kind);
  if (json_out) {
    json out = json::array();
    for (const auto& [mode, by_kind] : scores) {
      json row{{"mode", mode}, {"recomputed_share", recomputed[mode]}};
      for (const auto& [kind, s] : by_kind) row[kind] = {{"correct", s.correct}, {"total", s.total}};
      out.push_back(row);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("| mode | recomputed |");
  for (const std::string& k : kinds) std::printf(" %s |", k.c_str());
  std::printf("\n| --- | --- |");
  for (size_t i = 0; i < kinds.size(); ++i) std::printf(" --- |");
  std::printf("\n");
  for (engine::FusionMode mode : modes) {
    const std::string name = engine::FusionModeName(mode);
    std::printf("| %s | %.0f%% |", name.c_str(), 100 * recomputed[name]);
    for (const std::string& k : kinds) {
      const Score& s = scores[name][k];
      std::printf(" %.1f%% (%d/%d) |", s.total ? 100.0 * s.correct / s.total : 0.0, s.correct, s.total);
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace kvfuse::cli
