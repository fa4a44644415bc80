// Reading the .inp/.out expectation pairs of shared/vocab (format in its README).
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kvfuse::tokenizer::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

inline std::vector<Case> LoadCases(const std::string& base) {
  const std::string inp = ReadFile(base + ".inp");
  const std::string out = ReadFile(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<Case> cases;
  for (size_t pos = 0;;) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) break;
    cases.push_back({inp.substr(pos, next - pos), {}});
    pos = next + sep.size();
  }
  std::istringstream lines(out);
  std::string line;
  for (Case& c : cases) {
    std::getline(lines, line);
    std::istringstream ids(line);
    int32_t id;
    while (ids >> id) c.ids.push_back(id);
  }
  return cases;
}

inline std::string VocabPath(const std::string& name) {
  return std::string(KVFUSE_TEST_DATA) + "/vocab/ggml-vocab-" + name + ".gguf";
}

}  // namespace kvfuse::tokenizer::testing
