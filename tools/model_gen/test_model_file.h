// For tests: the path of a random-weight model of `shape`, `type` and `seed`, written
// once into `dir` (atomically, so test processes running in parallel can share it) and
// reused by every later test.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "model_gen/random_model.h"

namespace kvfuse::tools {

inline util::Result<std::string> TestModelFile(const std::string& shape, const std::string& type, uint64_t seed,
                                               const std::string& dir = KVFUSE_TEST_TMP) {
  const std::string path = dir + "/model-" + shape + "-" + type + "-" + std::to_string(seed) + ".gguf";
  if (access(path.c_str(), F_OK) == 0) return path;
  mkdir(dir.c_str(), 0755);  // may exist already
  ModelShape s;
  if (!FindShape(shape, s)) return util::Status::Error("unknown model shape " + shape);
  KVFUSE_RETURN_IF_ERROR(WriteRandomModel(s, type, seed, path));
  return path;
}

}  // namespace kvfuse::tools
