// Test helpers: the engine over the random-weight tiny model, and random prompt tokens.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "engine/engine.h"
#include "model_gen/test_model_file.h"

namespace kvfuse::engine {

inline std::unique_ptr<Engine> LoadTinyEngine(int n_ctx) {
  auto path = tools::TestModelFile("tiny", "f32", 5);
  EXPECT_TRUE(path.ok()) << path.status().message();
  EngineOptions o;
  o.model_path = path.ok() ? path.value() : "";
  o.n_ctx = n_ctx;
  auto e = Engine::Load(o);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(e).value() : nullptr;
}

// n ids in [3, 1003), the same for the same seed.
inline std::vector<int32_t> RandomTokens(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = 3 + static_cast<int32_t>(rng() % 1000);
  return t;
}

}  // namespace kvfuse::engine
