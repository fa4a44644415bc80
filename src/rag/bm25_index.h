// An in-memory inverted index with Okapi BM25 scoring (k1 = 1.2, b = 0.75). Terms are the
// lower-cased words of text_util.h's Words(), less a short list of English stop words, and
// each pair of capitalised words joined by one space (a name as one more term: "ada keller").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kvfuse::rag {

struct ScoredId {
  int32_t id;
  double score;
};

std::vector<std::string> AnalyzeTerms(std::string_view text);

class Bm25Index {
 public:
  // Ids are small dense integers chosen by the caller; each is added at most once.
  void Add(int32_t id, std::string_view text);
  // The best k documents sharing a term with the query, best first (ties by id).
  std::vector<ScoredId> Search(std::string_view query, size_t k) const;
  size_t size() const { return n_docs_; }

 private:
  struct Posting {
    int32_t id;
    int32_t tf;
  };
  std::unordered_map<std::string, std::vector<Posting>> postings_;
  std::vector<int32_t> doc_length_;  // by id; -1 where none
  size_t n_docs_ = 0;
  int64_t total_length_ = 0;
};

}  // namespace kvfuse::rag
