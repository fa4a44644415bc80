#include <algorithm>

#include <gtest/gtest.h>

#include "rag/chunker.h"
#include "rag/text_util.h"

namespace kvfuse::rag {
namespace {

// An independent token count: one token per whitespace-separated word.
int32_t CountWords(std::string_view text) {
  int32_t n = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ';
    n += !space && !in_word;
    in_word = !space;
  }
  return n;
}

TEST(SentenceSplitter, SplitsOnTerminalPunctuation) {
  EXPECT_EQ(SplitSentences("One two. Three four! Five? \"Six\" seven."),
            (std::vector<std::string>{"One two.", "Three four!", "Five?", "\"Six\" seven."}));
}

TEST(SentenceSplitter, KeepsAbbreviationsInitialsAndDecimals) {
  EXPECT_EQ(SplitSentences("Dr. Smith met J. R. Tolkien at 3.5 p.m. in town. It rained."),
            (std::vector<std::string>{"Dr. Smith met J. R. Tolkien at 3.5 p.m. in town.", "It rained."}));
  EXPECT_EQ(SplitSentences("no end punctuation"), (std::vector<std::string>{"no end punctuation"}));
  EXPECT_EQ(SplitSentences("lower. case follows"), (std::vector<std::string>{"lower. case follows"}));
}

Document Doc(std::vector<Paragraph> paragraphs) { return Document{"x.md", "x", std::move(paragraphs)}; }

TEST(Chunker, PacksWholeSentencesUpToTheLimit) {
  // Sentences of 3, 4, 5, 2 words; limit 8.
  const Document d = Doc({{"H", "A b c. D e f g. H i j k l. M n."}});
  const auto chunks = ChunkDocument(d, {8, 0, 0}, CountWords);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text, "A b c. D e f g.");
  EXPECT_EQ(chunks[1].text, "H i j k l. M n.");
  for (const TextChunk& c : chunks) {
    EXPECT_EQ(c.n_tokens, CountWords(c.text));
    EXPECT_EQ(c.heading, "H");
  }
}

TEST(Chunker, OverlapRepeatsWholeTrailingSentences) {
  const Document d = Doc({{"", "A b. C d. E f. G h. I j."}});
  const auto chunks = ChunkDocument(d, {4, 2, 0}, CountWords);
  // Each chunk holds two sentences; the next starts with the last one of the previous.
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].text, "A b. C d.");
  EXPECT_EQ(chunks[1].text, "C d. E f.");
  EXPECT_EQ(chunks[2].text, "E f. G h.");
  EXPECT_EQ(chunks[3].text, "G h. I j.");
}

TEST(Chunker, LongSentencesAreCutBetweenWordsAndLongWordsBetweenCharacters) {
  std::string sentence;
  for (int i = 0; i < 25; ++i) sentence += "w" + std::to_string(i) + " ";
  const Document d = Doc({{"", sentence + "end."}});
  const auto chunks = ChunkDocument(d, {10, 0, 0}, CountWords);
  ASSERT_EQ(chunks.size(), 3u);
  std::string rejoined;
  for (const TextChunk& c : chunks) {
    EXPECT_LE(c.n_tokens, 10);
    rejoined += (rejoined.empty() ? "" : " ") + c.text;
  }
  EXPECT_EQ(rejoined, CollapseWhitespace(sentence + "end."));

  // A counter that makes every character a token: a 40-character word must be cut.
  const auto per_char = [](std::string_view t) { return static_cast<int32_t>(t.size()); };
  const auto cut = ChunkDocument(Doc({{"", std::string(40, 'x')}}), {16, 0, 0}, per_char);
  ASSERT_GE(cut.size(), 3u);
  size_t xs = 0;
  for (const TextChunk& c : cut) {
    EXPECT_LE(c.n_tokens, 16);
    EXPECT_EQ(c.n_tokens, static_cast<int32_t>(c.text.size()));
    xs += std::count(c.text.begin(), c.text.end(), 'x');
  }
  EXPECT_EQ(xs, 40u);
}

TEST(Chunker, ParagraphsAndSectionsStartNewChunksButCrumbsMerge) {
  const Document d = Doc({{"A", "One two three four five six."},
                          {"A", "Seven eight nine ten eleven twelve."},
                          {"A", "Tiny."},
                          {"A", "Next para here now."},
                          {"B", "Other section."}});
  const auto chunks = ChunkDocument(d, {32, 0, 3}, CountWords);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].text, "One two three four five six.");
  EXPECT_EQ(chunks[1].text, "Seven eight nine ten eleven twelve.");
  EXPECT_EQ(chunks[2].text, "Tiny. Next para here now.");  // below min_tokens: merged forward
  EXPECT_EQ(chunks[3].text, "Other section.");
  EXPECT_EQ(chunks[3].heading, "B");
}

TEST(Chunker, OptionsAreValidated) {
  EXPECT_TRUE(ValidateChunkOptions({128, 16, 8}).ok());
  EXPECT_FALSE(ValidateChunkOptions({4, 0, 0}).ok());
  EXPECT_FALSE(ValidateChunkOptions({64, 40, 0}).ok());
  EXPECT_FALSE(ValidateChunkOptions({64, 8, 100}).ok());
}

}  // namespace
}  // namespace kvfuse::rag
