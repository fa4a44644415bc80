// The training-free repair methods (sinks, query, gradual, ape) against a full prefill or naive: each equals full
// when it recomputes every chunk token or when the chunk sits where it was cached, and it
// recomputes exactly the tokens it says (every other chunk token keeps its placed KV).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "fuse/fusion_methods.h"
#include "fusion_fixture.h"

namespace kvfuse::fuse {
namespace {

FusionOptions Options(FusionMode mode, float ratio, int32_t sinks) {
  FusionOptions o{mode, ratio};
  o.sink_tokens = sinks;
  return o;
}

// The chunk positions whose layer-`layer` keys differ from those naive reuse placed there.
std::set<int32_t> RecomputedPositions(Fixture& f, const SegmentedPrompt& p, const FusionOptions& o, int layer = 1) {
  f.Run(p, FusionMode::kNaive);
  std::vector<std::vector<uint16_t>> placed;
  const int32_t begin = p.ChunkOffset(0), end = p.ChunkOffset(p.chunks.size());
  for (int32_t pos = begin; pos < end; ++pos) placed.push_back(f.KeyAt(layer, pos));
  f.RunWith(p, o);
  std::set<int32_t> changed;
  for (int32_t pos = begin; pos < end; ++pos)
    if (f.KeyAt(layer, pos) != placed[pos - begin]) changed.insert(pos);
  return changed;
}

TEST(RepairMethods, RecomputingEveryChunkTokenEqualsFull) {
  for (const char* shape : {"tiny", "tiny-qwen2", "tiny-deep"}) {
    Fixture f(shape);
    const SegmentedPrompt p = MakePrompt({5, 6, 7}, 9);
    const std::vector<float> full = f.Run(p, FusionMode::kFull);
    for (const FusionOptions& o : {Options(FusionMode::kQuery, 1.0f, 0), Options(FusionMode::kSinks, 0, 12),
                                   Options(FusionMode::kGradual, 1.0f, 0)}) {
      FusionStats stats;
      const std::vector<float> repaired = f.RunWith(p, o, &stats);
      EXPECT_EQ(stats.chunk_tokens_recomputed, 36) << shape << " " << FusionModeName(o.mode);
      EXPECT_LE(MaxAbsDiff(repaired, full), kSameAsFull * MaxAbs(full)) << shape << " " << FusionModeName(o.mode);
    }
  }
}

TEST(RepairMethods, GradualNarrowsBlendsSelectionLayerByLayer) {
  Fixture f("tiny-deep");  // 4 layers: checks at layers 1, 2 and 3
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  const FusionOptions o = Options(FusionMode::kGradual, 0.25f, 0);
  // Shares 0.5, 0.375, 0.25 of 36 chunk tokens, rounded up.
  EXPECT_EQ(GradualCount(0.25f, 36, 1, 4), 18);
  EXPECT_EQ(GradualCount(0.25f, 36, 2, 4), 14);
  EXPECT_EQ(GradualCount(0.25f, 36, 3, 4), 9);
  EXPECT_EQ(GradualCount(0.25f, 36, 1, 2), 9);  // one checked layer: the share itself
  FusionStats stats;
  f.RunWith(p, o, &stats);
  EXPECT_EQ(stats.chunk_tokens_recomputed, 14);  // (18 + 14 + 9) / 3 layers, rounded
  // Layer 1 recomputes what blend at twice the share selects; each later layer a subset of
  // the layer before, of exactly its count.
  const std::set<int32_t> at1 = RecomputedPositions(f, p, o, 1);
  EXPECT_EQ(at1, RecomputedPositions(f, p, Options(FusionMode::kBlend, 0.5f, 0), 1));
  const std::set<int32_t> at2 = RecomputedPositions(f, p, o, 2), at3 = RecomputedPositions(f, p, o, 3);
  EXPECT_EQ(at1.size(), 18u);
  EXPECT_EQ(at2.size(), 14u);
  EXPECT_EQ(at3.size(), 9u);
  EXPECT_TRUE(std::includes(at1.begin(), at1.end(), at2.begin(), at2.end()));
  EXPECT_TRUE(std::includes(at2.begin(), at2.end(), at3.begin(), at3.end()));
}

TEST(RepairMethods, ApeAtTemperatureAndScaleOneIsNaive) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  FusionStats naive_stats, ape_stats;
  const std::vector<float> naive = f.Run(p, FusionMode::kNaive, 0, &naive_stats);
  FusionOptions o{FusionMode::kApe};
  o.ape_temperature = 1.0f;
  o.ape_scale = 1.0f;
  const std::vector<float> ape = f.RunWith(p, o, &ape_stats);
  EXPECT_EQ(ape, naive);
  EXPECT_EQ(ape_stats.chunk_tokens_recomputed, 0);
  EXPECT_EQ(ape_stats.tokens_computed, naive_stats.tokens_computed);
}

TEST(RepairMethods, ApeRecomputesNoChunkKvAndReshapesTheQuestionAndDecodedTokens) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  FusionOptions o{FusionMode::kApe};
  o.ape_temperature = 0.5f;
  o.ape_scale = 0.8f;
  const std::vector<float> naive = f.Run(p, FusionMode::kNaive);
  for (int layer = 0; layer < f.model->hparams().n_layers; ++layer)
    EXPECT_TRUE(RecomputedPositions(f, p, o, layer).empty()) << "no chunk KV recomputed, layer " << layer;
  const std::vector<float> ape = f.RunWith(p, o);
  EXPECT_GT(MaxAbsDiff(ape, naive), kSameAsFull * MaxAbs(naive));
  const kv::ContextReshape* r = f.kv.ContextReshapeOf(0);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->begin, p.ChunkOffset(0));
  EXPECT_EQ(r->end, p.ChunkOffset(p.chunks.size()));
  EXPECT_EQ(r->temperature, 0.5f);
  EXPECT_EQ(r->lse_scale, 0.8f);
  // A decoded token attends reshaped too: the next token's logits differ from naive's.
  const auto next = [&](const FusionOptions& prefill) {
    f.RunWith(p, prefill);
    model::TokenBatch b;
    b.Add(7, p.size(), 0, f.kv.SlotOf(0, p.size()), true);
    std::vector<float> logits;
    EXPECT_TRUE(f.model->Forward(f.ctx, b, f.kv, logits).ok());
    return logits;
  };
  const std::vector<float> naive_next = next(FusionOptions{FusionMode::kNaive});
  EXPECT_GT(MaxAbsDiff(next(o), naive_next), kSameAsFull * MaxAbs(naive_next));
  // The next prefill starts plain again.
  EXPECT_EQ(f.Run(p, FusionMode::kNaive), naive);
  EXPECT_EQ(f.kv.ContextReshapeOf(0), nullptr);
}

TEST(RepairMethods, AChunkWhereItWasCachedNeedsNoRepair) {
  Fixture f;
  SegmentedPrompt p;
  p.prefix = {1};  // the chunk head: the chunk sits exactly where it was computed
  p.chunks = {Tokens(20, 3)};
  p.suffix = Tokens(4, 4);
  const std::vector<float> full = f.Run(p, FusionMode::kFull);
  for (const FusionOptions& o : {Options(FusionMode::kSinks, 0, 3), Options(FusionMode::kQuery, 0.3f, 1)}) {
    const std::vector<float> repaired = f.RunWith(p, o);
    EXPECT_LE(MaxAbsDiff(repaired, full), kSameAsFull * MaxAbs(full)) << FusionModeName(o.mode);
  }
}

TEST(RepairMethods, SinksRecomputeExactlyEachChunksFirstTokens) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  FusionStats stats;
  f.RunWith(p, Options(FusionMode::kSinks, 0, 2), &stats);
  EXPECT_EQ(stats.chunk_tokens_recomputed, 6);
  EXPECT_EQ(stats.tokens_computed, 6 + 5);  // the prefix and the question
  const std::set<int32_t> want = {6, 7, 18, 19, 30, 31};  // prefix 6, chunks of 12
  EXPECT_EQ(RecomputedPositions(f, p, Options(FusionMode::kSinks, 0, 2)), want);
}

TEST(RepairMethods, QueryRecomputesItsShareWithEveryChunksSinksFirst) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);
  const FusionOptions o = Options(FusionMode::kQuery, 0.25f, 1);
  FusionStats stats;
  f.RunWith(p, o, &stats);
  EXPECT_EQ(stats.chunk_tokens_recomputed, 9);  // ceil(0.25 * 36)
  const std::set<int32_t> changed = RecomputedPositions(f, p, o);
  EXPECT_EQ(changed.size(), 9u);
  for (int32_t head : {6, 18, 30}) EXPECT_TRUE(changed.count(head)) << "chunk head " << head;
  // A share smaller than the sinks takes every chunk's first token before any second one.
  f.RunWith(p, Options(FusionMode::kQuery, 0.05f, 1), &stats);
  EXPECT_EQ(stats.chunk_tokens_recomputed, 2);  // ceil(0.05 * 36)
  const std::set<int32_t> want = {6, 18, 30};
  EXPECT_EQ(RecomputedPositions(f, p, Options(FusionMode::kQuery, 3.0f / 36, 2)), want);
}

// The question's last rows' attention: each row adds to the rows after it, and one row holds
// at most a distribution per head and layer.
TEST(RepairMethods, QuestionAttentionOfTheLastRowsAddsUpRowByRow) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);  // a question of 5 tokens
  f.Run(p, FusionMode::kNaive);                         // the chunks placed
  const std::vector<int32_t> slots = f.kv.SlotsOf(0, p.size());
  const PrefillTarget target{*f.model, f.ctx, f.kv, 0, slots};
  const FusionOptions options{FusionMode::kQuery};
  const std::vector<std::shared_ptr<const store::ChunkRecord>> records(p.chunks.size());
  const MethodInput in{target, p, options, records, static_cast<int32_t>(p.prefix.size())};
  const std::vector<double> all = QuestionAttention(in, 36, 5);
  const std::vector<double> last = QuestionAttention(in, 36, 1);
  const std::vector<double> last_two = QuestionAttention(in, 36, 2);
  EXPECT_EQ(QuestionAttention(in, 36, 50), all) << "past the question: its rows";
  const int64_t row = static_cast<int64_t>(f.model->hparams().n_heads) * 36;  // one row's floats
  EXPECT_EQ(QuestionAttention(in, 36, 5, 2 * row + 1), last_two) << "the recorder's cap: the last rows that fit";
  EXPECT_EQ(QuestionAttention(in, 36, 5, 1), last) << "at least one row";
  double sum_last = 0, sum_all = 0;
  for (size_t j = 0; j < 36; ++j) {
    EXPECT_GE(last[j], 0.0);
    EXPECT_GE(last_two[j] + 1e-6, last[j]) << "rows add up, token " << j;
    EXPECT_GE(all[j] + 1e-6, last_two[j]) << "token " << j;
    sum_last += last[j];
    sum_all += all[j];
  }
  EXPECT_GT(sum_last, 0.0);
  EXPECT_LE(sum_last, f.model->hparams().n_heads * f.model->hparams().n_layers + 1e-6);
  EXPECT_GT(sum_all, sum_last + 1e-3);  // five rows hold more than one
}

// Past the sinks, query takes chunk tokens by attention, each with the token after it in its
// chunk (none after a chunk's last), until the budget is spent.
TEST(RepairMethods, TheMostAttendedTokensAreTakenEachWithItsSuccessorInItsChunk) {
  // Chunk tokens 0-2 at positions 2-4, none, 3-4 at 5-6, 5-8 at 7-10.
  SegmentedPrompt p;
  p.prefix = {1, 2};
  p.chunks = {{3, 3, 3}, {}, {4, 4}, {5, 5, 5, 5}};
  p.suffix = {6};
  const std::vector<double> attention = {0.1, 0.0, 0.9, 0.5, 0.2, 0.0, 0.5, 0.3, 0.0};  // by chunk token
  std::vector<int32_t> positions = {2};  // a sink: chunk token 0
  AddMostAttended(p, attention, 6, positions);
  // 2 (the last of its chunk: no successor), 3 with 4, 6 (tied with 3, later) with 7.
  EXPECT_EQ(positions, (std::vector<int32_t>{2, 4, 5, 6, 8, 9}));
  positions = {};
  AddMostAttended(p, attention, 4, positions);
  EXPECT_EQ(positions, (std::vector<int32_t>{4, 5, 6, 8})) << "the budget cuts a pair: 6's successor is left";
  positions = {};
  AddMostAttended(p, attention, 9, positions);
  EXPECT_EQ(positions.size(), 9u) << "every chunk token at a budget of all";
}

// query recomputes exactly the sinks and AddMostAttended's choice over QuestionAttention.
TEST(RepairMethods, QueryRecomputesTheChunkTokensItChooses) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);  // prefix 6, chunks of 12
  f.Run(p, FusionMode::kNaive);
  const std::vector<int32_t> slots = f.kv.SlotsOf(0, p.size());
  const PrefillTarget target{*f.model, f.ctx, f.kv, 0, slots};
  const FusionOptions o = Options(FusionMode::kQuery, 0.25f, 1);
  const std::vector<std::shared_ptr<const store::ChunkRecord>> records(p.chunks.size());
  std::vector<int32_t> chosen = {6, 18, 30};
  AddMostAttended(p, QuestionAttention(MethodInput{target, p, o, records, 6}, 36, kScoredQuestionRows), 9, chosen);
  EXPECT_EQ(RecomputedPositions(f, p, o), std::set<int32_t>(chosen.begin(), chosen.end()));
}

// A prefix-cache hit of whole blocks leaves a few prefix positions to compute: query computes
// them in its first pass (the scoring pass, or the final one when its sinks fill the share)
// and answers as when the whole prefix was computed first, bit for bit.
TEST(RepairMethods, QueryComputesTheUncachedPrefixInItsFirstPass) {
  Fixture f;
  const SegmentedPrompt p = MakePrompt({1, 2, 3}, 9);  // a prefix of 6
  const std::vector<int32_t> slots = f.kv.SlotsOf(0, p.size());
  const PrefillTarget target{*f.model, f.ctx, f.kv, 0, slots};
  const kv::KvGeometry g = f.model->kv_geometry();
  for (const FusionOptions& o : {Options(FusionMode::kQuery, 0.25f, 1), Options(FusionMode::kQuery, 3.0f / 36, 2)}) {
    FusionStats stats;
    f.Run(p, FusionMode::kNaive, 0, &stats);  // the prefix computed, the chunks placed
    const std::vector<std::shared_ptr<const store::ChunkRecord>> records(p.chunks.size());
    std::vector<float> whole, folded;
    FinishQuery(MethodInput{target, p, o, records, 6}, whole, stats);

    f.Run(p, FusionMode::kNaive, 0, &stats);
    std::vector<std::vector<uint16_t>> prefix_keys;
    for (int32_t pos = 2; pos < 6; ++pos) {
      prefix_keys.push_back(f.KeyAt(g.n_layers - 1, pos));
      for (int layer = 0; layer < g.n_layers; ++layer)  // what the pass must write
        for (int h = 0; h < g.n_kv_heads; ++h) {
          std::fill_n(f.kv.cache().k(layer, h, slots[pos]), g.head_dim, uint16_t{0x7bff});
          std::fill_n(f.kv.cache().v(layer, h, slots[pos]), g.head_dim, uint16_t{0x7bff});
        }
    }
    FinishQuery(MethodInput{target, p, o, records, 2}, folded, stats);
    EXPECT_EQ(folded, whole) << "share " << o.recompute_ratio;
    for (int32_t pos = 2; pos < 6; ++pos) EXPECT_EQ(f.KeyAt(g.n_layers - 1, pos), prefix_keys[pos - 2]) << pos;
  }
}

}  // namespace
}  // namespace kvfuse::fuse
