// What of the model file a loaded model keeps in memory: the file stays mapped, but none of
// its pages stay resident in this process (peak RSS is the packed copies, not the file too).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernel_table.h"
#include "model/model.h"
#include "model_gen/test_model_file.h"

namespace kvfuse::model {
namespace {

// The Rss, in kB, of this process's mappings of the file at `path`, from /proc/self/smaps.
long FileMappingRssKb(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_file = false;
  long total = 0;
  while (std::getline(smaps, line)) {
    unsigned long from = 0, to = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &from, &to) == 2) {
      in_file = line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0;
      continue;
    }
    long kb = 0;
    if (in_file && std::sscanf(line.c_str(), "Rss: %ld kB", &kb) == 1) total += kb;
  }
  return total;
}

// After loading, no page of the file is resident: each packed matrix's pages are handed back
// after packing, the norms and biases are copies, and the header's pages go too. Where the
// table packs every matrix, a forward pass reads nothing through the mapping either (the
// embedding's rows are read with pread).
TEST(ModelMemory, NoPageOfTheFileStaysResidentAfterLoadingNorAfterAPassOverPackedMatrices) {
  auto path = tools::TestModelFile("tiny-qwen2", "q8_0", 7);  // with biases
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto m = Model::Open(path.value());
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(FileMappingRssKb(path.value()), 0);

  if (!kernels::BestKernels().PackedFor(tensor::DType::kQ8_0).pack)
    GTEST_SKIP() << kernels::BestKernels().name << " reads Q8_0 matrices from the file";
  Model& model = *m.value();
  ForwardContext ctx(2);
  kv::KvManager kv(model.kv_geometry(), 64, 16);
  ASSERT_TRUE(kv.Reserve(0, 12).ok());
  std::mt19937 rng(3);
  TokenBatch batch;
  for (int i = 0; i < 12; ++i)
    batch.Add(static_cast<int>(rng() % model.hparams().n_vocab), i, 0, kv.SlotOf(0, i), i == 11);
  std::vector<float> logits;
  ASSERT_TRUE(model.Forward(ctx, batch, kv, logits).ok());
  EXPECT_EQ(FileMappingRssKb(path.value()), 0);
}

}  // namespace
}  // namespace kvfuse::model
