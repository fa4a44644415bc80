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

util::Status ReadWindow(const gguf::GgufFile& file, const std::string& key, int fallback, int& out) {
  if (!file.Find(key)) {
    out = fallback;
    return util::Status::Ok();
  }
  const util::Result<int64_t> v = file.GetInt(key);
  if (!v.ok() || v.value() < 0 || v.value() > (1 << 30))
    return util::Status::Error(file.path() + ": metadata '" + key + "' must be a sliding window of 0..2^30 tokens");
  out = static_cast<int>(v.value());
  return util::Status::Ok();
}

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
