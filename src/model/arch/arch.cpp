#include "model/arch/arch.h"

namespace kvfuse::model::arch {

namespace {

struct Family {
  const char* name;
  Configure configure;
};

constexpr Family kFamilies[] = {
    {"llama", ConfigureLlama}, {"qwen2", ConfigureQwen2},   {"qwen3", ConfigureQwen3},
    {"phi3", ConfigurePhi3},   {"gemma2", ConfigureGemma2}, {"gemma3", ConfigureGemma3},
};

}  // namespace

Configure ConfigureFor(const std::string& name) {
  for (const Family& f : kFamilies)
    if (name == f.name) return f.configure;
  return nullptr;
}

std::string KnownArchitectures() {
  std::string names;
  for (const Family& f : kFamilies) names += (names.empty() ? "" : ", ") + std::string(f.name);
  return names;
}

}  // namespace kvfuse::model::arch
