#include "cli/bench/demo_world.h"

#include <algorithm>
#include <fstream>

namespace kvfuse::cli {

using nlohmann::json;

namespace {

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

std::string Replace(std::string s, const std::string& key, const std::string& value) {
  if (size_t p = s.find(key); p != std::string::npos) s.replace(p, key.size(), value);
  return s;
}

}  // namespace

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

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \n\t"), e = s.find_last_not_of(" \n\t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

PromptBuilder::PromptBuilder(const DemoWorld& world, const tokenizer::Tokenizer& tok, int n_chunks)
    : world_(world), tok_(tok), n_chunks_(n_chunks) {
  for (const auto& [id, text] : world.docs)
    if (id.empty() || id.back() != 'b') distractor_ids_.push_back(id);  // never a pronoun-only chunk
}

engine::SegmentedPrompt PromptBuilder::Build(const Question& q, std::mt19937& rng) const {
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

}  // namespace kvfuse::cli
