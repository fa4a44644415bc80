// kvfuse perplexity: llama.cpp's method. The file is tokenized whole (BOS first when the
// model adds one), cut into non-overlapping windows of CTX tokens; each window starts
// with BOS in place of its first token, and only the second half of each window is
// scored. Prints "PPL = <value>".
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/bench/bench_commands.h"
#include "cli/commands.h"
#include "util/log_sum_exp.h"

namespace kvfuse::cli {

int PerplexityCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"-m", "-f", "-c", "-t", "-b"}, {});
  if (!args.ok()) return Fail(args.status().message());
  auto n_ctx = args->GetInt("-c", 512);
  if (!n_ctx.ok()) return Fail(n_ctx.status().message());
  if (n_ctx.value() < 2) return Fail("-c must be at least 2");
  const std::string path = args->Get("-f");
  if (path.empty()) return Fail("a text file is required (-f FILE)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();

  auto engine = LoadEngine(args.value(), static_cast<int>(n_ctx.value()));
  if (!engine.ok()) return Fail(engine.status().message());
  engine::Engine& e = *engine.value();
  if (!e.tokenizer()) return Fail("cannot tokenize: " + e.tokenizer_error());
  const int ctx = static_cast<int>(n_ctx.value());
  if (e.n_ctx() < ctx) return Fail("-c is larger than the context");

  const std::vector<int32_t> tokens = e.tokenizer()->Encode(text.str(), true);
  if (static_cast<int64_t>(tokens.size()) < 2 * ctx)
    return Fail(util::StrFormat("%s tokenizes to %zu tokens; at least %d (2 x CTX) are needed",
                                path.c_str(), tokens.size(), 2 * ctx));
  const bool add_bos = e.tokenizer()->vocab().add_bos && e.tokenizer()->vocab().bos_id >= 0;
  const int n_chunks = static_cast<int>(tokens.size() / ctx);
  const int first = ctx / 2;
  const int n_vocab = e.hparams().n_vocab;
  std::fprintf(stderr, "perplexity: %zu tokens, %d chunks of %d\n", tokens.size(), n_chunks, ctx);

  double nll = 0;
  int64_t count = 0;
  std::vector<float> logits;
  for (int c = 0; c < n_chunks; ++c) {
    std::vector<int32_t> window(tokens.begin() + static_cast<int64_t>(c) * ctx,
                                tokens.begin() + static_cast<int64_t>(c + 1) * ctx);
    if (add_bos) window[0] = e.tokenizer()->vocab().bos_id;
    e.Reset();
    util::Status st = e.Evaluate(window, 0, true, logits);
    if (!st.ok()) return Fail(st.message());
    // Logits of position i predict the original token at i + 1.
    const int32_t* original = tokens.data() + static_cast<int64_t>(c) * ctx;
    for (int i = first; i < ctx - 1; ++i) {
      const float* row = logits.data() + static_cast<size_t>(i) * n_vocab;
      nll += util::LogSumExp(row, n_vocab) - row[original[i + 1]];  // -log softmax(row)[next]
      ++count;
    }
    std::fprintf(stderr, "[%d]%.4f,", c + 1, std::exp(nll / count));
  }
  std::fprintf(stderr, "\n");
  std::printf("PPL = %.4f\n", std::exp(nll / count));
  return 0;
}

}  // namespace kvfuse::cli
