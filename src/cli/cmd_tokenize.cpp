// kvfuse tokenize: a text (argument or -f FILE) through the model's tokenizer, printed
// as "id -> 'piece'" lines, or as one list of ids with --ids (like llama-tokenize).
// --parse-special reads control tokens written in the text (<|im_end|>) as those tokens.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "util/timing.h"

namespace kvfuse::cli {

int TokenizeCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"-m", "-f"}, {"--ids", "--no-bos", "--parse-special", "--stats"});
  if (!args.ok()) return Fail(args.status().message());
  if (args->Get("-m").empty()) return Fail("a model is required (-m FILE.gguf)");
  std::string text;
  if (args->Has("-f")) {
    std::ifstream in(args->Get("-f"), std::ios::binary);
    if (!in) return Fail("cannot read " + args->Get("-f"));
    std::stringstream s;
    s << in.rdbuf();
    text = s.str();
  } else if (args->positional().size() == 1) {
    text = args->positional()[0];
  } else {
    return Fail("give the text as one argument or with -f FILE");
  }
  auto tok = engine::LoadTokenizer(args->Get("-m"));
  if (!tok.ok()) return Fail(tok.status().message());
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = tok.value()->Encode(text, !args->Has("--no-bos"), args->Has("--parse-special"));
  const double ms = util::MsSince(t0);
  if (args->Has("--ids")) {
    std::string line = "[";
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? ", " : "") + std::to_string(ids[i]);
    std::printf("%s]\n", line.c_str());
  } else {
    for (int32_t id : ids) std::printf("%6d -> '%s'\n", id, tok.value()->Piece(id).c_str());
  }
  if (args->Has("--stats"))
    std::fprintf(stderr, "%zu bytes -> %zu tokens in %.1f ms (%.1f MB/s)\n", text.size(), ids.size(), ms,
                 text.size() / 1e3 / ms);
  return 0;
}

}  // namespace kvfuse::cli
