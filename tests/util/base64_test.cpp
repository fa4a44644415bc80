// Base64 against the test vectors of RFC 4648 section 10, and malformed text refused.
#include "util/base64.h"

#include <gtest/gtest.h>

namespace kvfuse::util {

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [bytes, text] : vectors) {
    EXPECT_EQ(Base64Encode(bytes), text);
    EXPECT_EQ(Base64Decode(text), std::optional<std::string>(bytes)) << text;
  }
  const std::string all = [] { std::string s; for (int b = 0; b < 256; ++b) s += static_cast<char>(b); return s; }();
  EXPECT_EQ(Base64Decode(Base64Encode(all)), all);
}

TEST(Base64, MalformedTextIsRefused) {
  for (const char* bad : {"Zg=", "Zg", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg="}) EXPECT_EQ(Base64Decode(bad), std::nullopt) << bad;
}

}  // namespace kvfuse::util
