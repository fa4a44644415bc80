// kvfuse inspect: print a GGUF file's metadata and tensor table.
#include <cstdio>

#include "cli/commands.h"
#include "gguf/gguf_reader.h"

namespace kvfuse::cli {

namespace {

std::string Describe(const gguf::Value& v) {
  using gguf::ValueType;
  if (v.type == ValueType::kString) return v.text.size() > 120 ? "\"" + v.text.substr(0, 117) + "...\"" : "\"" + v.text + "\"";
  if (v.type == ValueType::kBool) return v.integer ? "true" : "false";
  if (gguf::IsFloatType(v.type)) return util::StrFormat("%g", v.real);
  if (!v.is_array()) return std::to_string(v.integer);
  std::string s = util::StrFormat("[%s x %zu]", std::string(gguf::ValueTypeName(v.element_type)).c_str(), v.array_size());
  const size_t shown = std::min<size_t>(v.array_size(), 5);
  s += " ";
  for (size_t i = 0; i < shown; ++i) {
    if (i) s += ", ";
    if (v.element_type == ValueType::kString) s += "\"" + v.texts[i] + "\"";
    else if (gguf::IsFloatType(v.element_type)) s += util::StrFormat("%g", v.reals[i]);
    else s += std::to_string(v.integers[i]);
  }
  if (shown < v.array_size()) s += ", ...";
  return s;
}

}  // namespace

int InspectCommand(int argc, char** argv) {
  if (argc != 1) return Fail("usage: kvfuse inspect FILE.gguf");
  auto file = gguf::GgufFile::Open(argv[0]);
  if (!file.ok()) return Fail(file.status().message());
  std::printf("%s: GGUF v%u, %zu metadata entries, %zu tensors, alignment %u\n", argv[0],
              file->version(), file->metadata().size(), file->tensors().size(), file->alignment());
  for (const auto& [key, value] : file->metadata())
    std::printf("  %-44s %-4s %s\n", key.c_str(), std::string(gguf::ValueTypeName(value.type)).c_str(),
                Describe(value).c_str());
  size_t total = 0;
  for (const auto& t : file->tensors()) {
    std::string shape;
    for (size_t i = 0; i < t.dims.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.dims[i]);
    std::printf("  %-36s %-6s [%s] %zu bytes\n", t.name.c_str(), std::string(tensor::Info(t.type).name).c_str(),
                shape.c_str(), t.n_bytes);
    total += t.n_bytes;
  }
  std::printf("tensor data: %.2f MiB\n", total / (1024.0 * 1024.0));
  return 0;
}

}  // namespace kvfuse::cli
