#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "rag/bm25_index.h"
#include "rag/rank_fusion.h"
#include "rag/vector_index.h"

namespace kvfuse::rag {
namespace {

// BM25 written out from its definition, over already-analyzed documents.
double ReferenceBm25(const std::vector<std::vector<std::string>>& docs, size_t d, const std::vector<std::string>& query) {
  double avg = 0;
  for (const auto& doc : docs) avg += static_cast<double>(doc.size());
  avg /= static_cast<double>(docs.size());
  double score = 0;
  std::vector<std::string> seen;
  for (const std::string& q : query) {
    if (std::find(seen.begin(), seen.end(), q) != seen.end()) continue;
    seen.push_back(q);
    double df = 0;
    for (const auto& doc : docs) df += std::find(doc.begin(), doc.end(), q) != doc.end();
    if (df == 0) continue;
    const double tf = static_cast<double>(std::count(docs[d].begin(), docs[d].end(), q));
    if (tf == 0) continue;
    const double idf = std::log(1 + (docs.size() - df + 0.5) / (df + 0.5));
    score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * docs[d].size() / avg));
  }
  return score;
}

TEST(Bm25, ScoresMatchTheFormula) {
  const std::vector<std::string> texts = {"The cat sat on the mat with another cat.", "A dog chased the cat.",
                                          "Dogs and cats: friends or foes?", "Nothing relevant here at all."};
  Bm25Index index;
  std::vector<std::vector<std::string>> analyzed;
  for (size_t i = 0; i < texts.size(); ++i) {
    index.Add(static_cast<int32_t>(i), texts[i]);
    analyzed.push_back(AnalyzeTerms(texts[i]));
  }
  const std::string query = "Where is the CAT and the dog?";
  const auto hits = index.Search(query, 10);
  ASSERT_EQ(hits.size(), 2u);  // only documents sharing a term
  EXPECT_EQ(hits[0].id, 1);    // both terms
  EXPECT_EQ(hits[1].id, 0);
  for (const ScoredId& h : hits) EXPECT_NEAR(h.score, ReferenceBm25(analyzed, h.id, AnalyzeTerms(query)), 1e-12);
  EXPECT_TRUE(index.Search("the and of", 10).empty());  // stop words only
  EXPECT_EQ(index.Search(query, 1).size(), 1u);
}

TEST(Bm25, AnalyzerLowercasesAndDropsStopWords) {
  EXPECT_EQ(AnalyzeTerms("Where is the Company that Ada works for?"),
            (std::vector<std::string>{"company", "ada", "works"}));
}

TEST(Bm25, AdjacentCapitalisedWordsAreOneMoreTerm) {
  EXPECT_EQ(AnalyzeTerms("Ask Ada Keller of Deep Textiles, not the Keller Tools. Bruno  Smith"),
            (std::vector<std::string>{"ask", "ask ada", "ada", "ada keller", "keller", "deep", "deep textiles",
                                      "textiles", "not", "keller", "keller tools", "tools", "bruno", "smith"}));
  // A full name ranks its person above a namesake who shares both words, but not side by side.
  Bm25Index index;
  index.Add(0, "Ada Smith and Bruno Keller live here.");
  index.Add(1, "Ada Keller lives here.");
  const auto hits = index.Search("Where does Ada Keller live?", 2);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].id, 1);
}

TEST(RankFusion, SumsWeightedReciprocalRanks) {
  const auto fused = ReciprocalRankFusion({{{1, 2, 3}, 1.0}, {{3, 1}, 0.5}}, 60.0);
  ASSERT_EQ(fused.size(), 3u);
  EXPECT_EQ(fused[0].id, 1);
  EXPECT_NEAR(fused[0].score, 1.0 / 61 + 0.5 / 62, 1e-15);
  EXPECT_EQ(fused[1].id, 3);
  EXPECT_NEAR(fused[1].score, 1.0 / 63 + 0.5 / 61, 1e-15);
  EXPECT_EQ(fused[2].id, 2);
  EXPECT_NEAR(fused[2].score, 1.0 / 62, 1e-15);
}

TEST(VectorIndex, FindsTheNearestByInnerProduct) {
  // 200 unit vectors on a circle in 2-D, embedded in 8 dimensions; exact answers are known.
  VectorIndex index(8);
  std::vector<std::vector<float>> vs;
  for (int i = 0; i < 200; ++i) {
    std::vector<float> v(8, 0.0f);
    v[0] = std::cos(i * 0.0314f);
    v[1] = std::sin(i * 0.0314f);
    index.Add(i, v.data());
    vs.push_back(v);
  }
  const auto hits = index.Search(vs[57].data(), 3);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].id, 57);
  EXPECT_NEAR(hits[0].score, 1.0, 1e-5);
  EXPECT_TRUE((hits[1].id == 56 && hits[2].id == 58) || (hits[1].id == 58 && hits[2].id == 56));
}

}  // namespace
}  // namespace kvfuse::rag
