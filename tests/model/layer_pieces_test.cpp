// A layer gate may run a batch's layers a piece of its tokens at a time (how a stepped
// prefill keeps every step within its budget): the logits and the recorded attention must
// equal the whole batch's bit for bit, on every kernel table and with sliding windows, and a
// batch that cannot be divided (two sequences, a bottom-right mask, descending positions)
// is never divided.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "kernels/kernel_table.h"
#include "model/model.h"
#include "model_gen/test_model_file.h"

namespace kvfuse::model {
namespace {

// Hands out pieces of the sizes given, in turn, and notes every offer.
class PieceGate final : public LayerGate {
 public:
  struct Offer {
    int32_t n_tokens;
    bool divisible;
    int32_t run;
  };
  explicit PieceGate(std::vector<int32_t> sizes) : sizes_(std::move(sizes)) {}
  int32_t BeforeLayer(int32_t n_tokens, bool divisible) override {
    const int32_t run = divisible ? std::min(n_tokens, sizes_[next_++ % sizes_.size()]) : n_tokens;
    offers.push_back({n_tokens, divisible, run});
    return run;
  }
  std::vector<Offer> offers;

 private:
  std::vector<int32_t> sizes_;
  size_t next_ = 0;
};

std::unique_ptr<Model> OpenShape(const std::string& shape) {
  auto path = tools::TestModelFile(shape, "q8_0", 7);
  EXPECT_TRUE(path.ok()) << path.status().message();
  if (!path.ok()) return nullptr;
  auto m = Model::Open(path.value());
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

struct Outputs {
  std::vector<float> logits;
  std::vector<float> mass;
};

// Every token of one in-order batch of sequence 0 through the model, with `gate` (if any),
// every row's attention to every position recorded (unless `record` is false).
Outputs RunBatch(const Model& m, const kernels::KernelTable& k, const std::vector<int32_t>& tokens, LayerGate* gate,
                 bool record = true, int32_t first_recorded_row = 0) {
  ForwardContext ctx(2, k);
  const auto n = static_cast<int32_t>(tokens.size());
  kv::KvManager kv(m.kv_geometry(), 128, 16);
  EXPECT_TRUE(kv.Reserve(0, n).ok());
  TokenBatch batch;
  for (int32_t i = 0; i < n; ++i) batch.Add(tokens[i], i, 0, kv.SlotOf(0, i), true);
  AttentionRecorder recorder;
  recorder.n_segments = n;
  recorder.n_heads = m.hparams().n_heads;
  for (int32_t i = 0; i < n; ++i) recorder.segment_of_pos.push_back(i);
  recorder.first_row = first_recorded_row;
  recorder.Reset(n - first_recorded_row);
  ctx.recorder = record ? &recorder : nullptr;
  ctx.layer_gate = gate;
  Outputs run;
  EXPECT_TRUE(m.Forward(ctx, batch, kv, run.logits).ok());
  run.mass = recorder.mass;
  return run;
}

TEST(LayerPieces, ABatchRunInPiecesEqualsTheWholeBatch) {
  std::vector<const kernels::KernelTable*> tables = {&kernels::RefKernels()};
  for (const char* name : {"avx2", "avx512"})
    if (const kernels::KernelTable* k = kernels::KernelsNamed(name)) tables.push_back(k);
  for (const char* shape : {"tiny-qwen2", "tiny-gemma2", "tiny-gemma3"}) {
    auto m = OpenShape(shape);
    ASSERT_TRUE(m);
    std::mt19937 rng(3);
    std::vector<int32_t> tokens(70);  // past a 64-key tile, and the windows of 8
    for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % m->hparams().n_vocab);
    for (const kernels::KernelTable* k : tables) {
      SCOPED_TRACE(std::string(k->name) + " " + shape);
      const Outputs whole = RunBatch(*m, *k, tokens, nullptr);
      PieceGate gate({5, 1, 17, 64, 3});
      const Outputs pieces = RunBatch(*m, *k, tokens, &gate);
      EXPECT_EQ(pieces.logits, whole.logits);
      EXPECT_EQ(pieces.mass, whole.mass) << "a piece recorded its attention in another row";
      // Each layer offered the tokens it had not run yet, until none were left.
      int32_t left = 70, layers = 0;
      for (const PieceGate::Offer& o : gate.offers) {
        EXPECT_TRUE(o.divisible);
        EXPECT_EQ(o.n_tokens, left);
        left -= o.run;
        if (left == 0) left = 70, ++layers;
      }
      EXPECT_EQ(layers, m->hparams().n_layers);
      EXPECT_GT(gate.offers.size(), static_cast<size_t>(m->hparams().n_layers)) << "nothing was divided";
    }
  }
}

// A recorded pass computes what an unrecorded one does, and what it records is a softmax:
// with every position its own segment, each row and head holds 1 per layer (windows too).
TEST(LayerPieces, ARecordedPassEqualsAnUnrecordedOneAndRecordsWeightsThatSumToOnePerLayer) {
  for (const char* shape : {"tiny-qwen2", "tiny-gemma2"}) {
    auto m = OpenShape(shape);
    ASSERT_TRUE(m);
    std::mt19937 rng(5);
    std::vector<int32_t> tokens(70);
    for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % m->hparams().n_vocab);
    for (const kernels::KernelTable* k : {&kernels::RefKernels(), &kernels::BestKernels()}) {
      SCOPED_TRACE(std::string(k->name) + " " + shape);
      const Outputs recorded = RunBatch(*m, *k, tokens, nullptr);
      EXPECT_EQ(recorded.logits, RunBatch(*m, *k, tokens, nullptr, false).logits);
      const int n_heads = m->hparams().n_heads, n = static_cast<int>(tokens.size());
      for (int row = 0; row < n * n_heads; ++row) {
        double sum = 0;
        for (int s = 0; s < n; ++s) sum += recorded.mass[static_cast<size_t>(row) * n + s];
        ASSERT_NEAR(sum, m->hparams().n_layers, 1e-4) << "row " << row / n_heads << " head " << row % n_heads;
      }
    }
  }
}

// A recorder from row r on holds those rows of the whole batch's record, bit for bit, also
// when the batch runs in pieces that begin before and after r.
TEST(LayerPieces, ARecordFromARowOnIsThoseRowsOfTheWholeRecord) {
  auto m = OpenShape("tiny-qwen2");
  ASSERT_TRUE(m);
  std::mt19937 rng(9);
  std::vector<int32_t> tokens(70);
  for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % m->hparams().n_vocab);
  const kernels::KernelTable& k = kernels::BestKernels();
  const Outputs whole = RunBatch(*m, k, tokens, nullptr);
  const size_t per_row = static_cast<size_t>(m->hparams().n_heads) * tokens.size();
  for (int32_t first : {0, 1, 5, 23, 40, 69}) {  // layer 0's pieces begin at 0, 5, 6 and 23
    const std::vector<float> tail(whole.mass.begin() + first * per_row, whole.mass.end());
    const Outputs from = RunBatch(*m, k, tokens, nullptr, true, first);
    EXPECT_EQ(from.logits, whole.logits) << first;
    EXPECT_EQ(from.mass, tail) << "from row " << first;
    PieceGate gate({5, 1, 17, 64, 3});
    EXPECT_EQ(RunBatch(*m, k, tokens, &gate, true, first).mass, tail) << "in pieces, from row " << first;
  }
}

TEST(LayerPieces, BatchesThatCannotBeDividedAreOfferedWhole) {
  auto m = OpenShape("tiny");
  ASSERT_TRUE(m);
  ForwardContext ctx(2);
  kv::KvManager kv(m->kv_geometry(), 64, 16);
  ASSERT_TRUE(kv.Reserve(0, 6).ok() && kv.Reserve(1, 6).ok());
  TokenBatch two_sequences, bottom_right, descending;
  for (int32_t i = 0; i < 6; ++i) {
    two_sequences.Add(i + 1, i, i % 2, kv.SlotOf(i % 2, i), false);
    bottom_right.Add(i + 1, i, 0, kv.SlotOf(0, i), false);
    bottom_right.attend_limits.push_back(5);  // past its own position
    descending.Add(i + 1, 5 - i, 1, kv.SlotOf(1, 5 - i), false);
  }
  for (const TokenBatch* batch : {&two_sequences, &bottom_right, &descending}) {
    PieceGate gate({1});
    ctx.layer_gate = &gate;
    std::vector<float> logits;
    ASSERT_TRUE(m->Forward(ctx, *batch, kv, logits).ok());
    ASSERT_EQ(gate.offers.size(), static_cast<size_t>(m->hparams().n_layers));
    for (const PieceGate::Offer& o : gate.offers) {
      EXPECT_FALSE(o.divisible);
      EXPECT_EQ(o.n_tokens, 6);
    }
  }
}

}  // namespace
}  // namespace kvfuse::model
