// Options of a test server on any free port for the random-weight tiny model.
#pragma once

#include <gtest/gtest.h>

#include "model_gen/test_model_file.h"
#include "server/server.h"

namespace kvfuse::server {

inline ServerOptions TinyServerOptions(int n_ctx) {
  auto path = tools::TestModelFile("tiny", "f32", 5);
  EXPECT_TRUE(path.ok());
  ServerOptions o;
  o.engine.model_path = path.value();
  o.engine.n_ctx = n_ctx;
  o.engine.n_threads = 1;
  o.port = 0;
  // No audits drawn at random: they would make KV and chunk-store counts vary from run to run
  // (the fidelity tests ask for theirs).
  o.fidelity.audit_rate = 0;
  return o;
}

}  // namespace kvfuse::server
