// TokenIndex (tokenizer/vocab.h) against a map built here: every text finds the first id that
// holds it, and texts that are no token find none.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tokenizer/vocab.h"

namespace kvfuse::tokenizer {

TEST(TokenIndex, FindsTheFirstIdOfEveryTextAndNothingElse) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 5000; ++i) tokens.push_back("t" + std::to_string(i * 7919 % 3001));  // texts repeat
  tokens.push_back("");
  tokens.push_back(std::string("\0x", 2));
  std::map<std::string, int32_t> first;
  for (size_t id = 0; id < tokens.size(); ++id) first.emplace(tokens[id], static_cast<int32_t>(id));

  TokenIndex index;
  EXPECT_EQ(index.Find("t0", tokens), -1) << "an index not yet built finds nothing";
  index.Build(tokens);
  for (const auto& [text, id] : first) EXPECT_EQ(index.Find(text, tokens), id) << text;
  for (const char* absent : {"t3001", "t", "x", "t0 "}) EXPECT_EQ(index.Find(absent, tokens), -1) << absent;

  Vocab vocab;
  vocab.tokens = tokens;
  IndexVocab(&vocab);
  const Vocab copy = vocab;  // the copy's index looks up the copy's texts
  EXPECT_EQ(copy.Find("t17"), first.at("t17"));
  EXPECT_EQ(copy.max_token_bytes, 5u);
}

}  // namespace kvfuse::tokenizer
