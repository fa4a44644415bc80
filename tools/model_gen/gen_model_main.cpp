// kvfuse-gen-model --shape smol --type q8_0 [--seed N] -o FILE.gguf
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "model_gen/random_model.h"

int main(int argc, char** argv) {
  std::string shape_name = "tiny", type = "q8_0", out;
  uint64_t seed = 42;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--shape" && has_value) shape_name = argv[++i];
    else if (a == "--type" && has_value) type = argv[++i];
    else if (a == "--seed" && has_value) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "-o" && has_value) out = argv[++i];
    else {
      std::fprintf(stderr, "usage: kvfuse-gen-model --shape NAME --type TYPE [--seed N] -o FILE.gguf\n");
      return 1;
    }
  }
  kvfuse::tools::ModelShape shape;
  if (out.empty() || !kvfuse::tools::FindShape(shape_name, shape)) {
    std::fprintf(stderr, "error: need -o and a known --shape (");
    for (const auto& n : kvfuse::tools::ShapeNames()) std::fprintf(stderr, " %s", n.c_str());
    std::fprintf(stderr, " )\n");
    return 1;
  }
  kvfuse::util::Status st = kvfuse::tools::WriteRandomModel(shape, type, seed, out);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("wrote %s (%s, %s)\n", out.c_str(), shape_name.c_str(), type.c_str());
  return 0;
}
