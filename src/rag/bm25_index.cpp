#include "rag/bm25_index.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "rag/text_util.h"

namespace kvfuse::rag {
namespace {

constexpr double kK1 = 1.2;
constexpr double kB = 0.75;

bool IsStopWord(const std::string& w) {
  static const std::unordered_set<std::string> kStop = {
      "a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "by", "for", "with", "is", "are", "was",
      "were", "be", "been", "it", "its", "this", "that", "as", "from", "does", "do", "did", "what", "which",
      "who", "whom", "where", "when", "how", "has", "have", "had", "than", "there", "their", "s"};
  return kStop.count(w) > 0;
}

}  // namespace

std::vector<std::string> AnalyzeTerms(std::string_view text) {
  const std::vector<Word> words = CasedWords(text);
  std::vector<std::string> terms;
  for (size_t i = 0; i < words.size(); ++i) {
    if (IsStopWord(words[i].text)) continue;
    terms.push_back(words[i].text);
    // Two capitalised words joined by one space as one more term: a full name matches the
    // chunks that hold it above those that hold one of its words (a namesake's).
    if (i + 1 < words.size() && words[i].capitalized && words[i + 1].capitalized && words[i + 1].after_one_space &&
        !IsStopWord(words[i + 1].text))
      terms.push_back(words[i].text + " " + words[i + 1].text);
  }
  return terms;
}

void Bm25Index::Add(int32_t id, std::string_view text) {
  const std::vector<std::string> terms = AnalyzeTerms(text);
  std::unordered_map<std::string, int32_t> tf;
  for (const std::string& t : terms) ++tf[t];
  for (auto& [term, n] : tf) postings_[term].push_back({id, n});
  if (static_cast<size_t>(id) >= doc_length_.size()) doc_length_.resize(id + 1, -1);
  doc_length_[id] = static_cast<int32_t>(terms.size());
  ++n_docs_;
  total_length_ += static_cast<int64_t>(terms.size());
}

std::vector<ScoredId> Bm25Index::Search(std::string_view query, size_t k) const {
  if (n_docs_ == 0 || k == 0) return {};
  const double avg_length = static_cast<double>(total_length_) / static_cast<double>(n_docs_);
  std::vector<double> score(doc_length_.size(), 0.0);
  std::vector<int32_t> touched;
  std::unordered_set<std::string> seen;
  for (const std::string& term : AnalyzeTerms(query)) {
    if (!seen.insert(term).second) continue;
    const auto it = postings_.find(term);
    if (it == postings_.end()) continue;
    const double df = static_cast<double>(it->second.size());
    const double idf = std::log(1.0 + (static_cast<double>(n_docs_) - df + 0.5) / (df + 0.5));
    for (const Posting& p : it->second) {
      const double tf = p.tf;
      const double norm = kK1 * (1.0 - kB + kB * doc_length_[p.id] / avg_length);
      if (score[p.id] == 0.0) touched.push_back(p.id);
      score[p.id] += idf * tf * (kK1 + 1.0) / (tf + norm);
    }
  }
  std::vector<ScoredId> hits;
  hits.reserve(touched.size());
  for (int32_t id : touched) hits.push_back({id, score[id]});
  const size_t n = std::min(k, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + n, hits.end(), [](const ScoredId& a, const ScoredId& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
  hits.resize(n);
  return hits;
}

}  // namespace kvfuse::rag
