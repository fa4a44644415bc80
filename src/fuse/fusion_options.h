// How a SegmentedPrompt's prefill may reuse cached KV (docs/ARCHITECTURE.md,
// "Fusion modes").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "fuse/segmented_prompt.h"

namespace kvfuse::fuse {

enum class FusionMode {
  kFull,    // recompute every token: the reference
  kPrefix,  // reuse the longest common token prefix with the previous prompt only
  kNaive,   // reuse every chunk's cached KV as is (keys re-rotated), compute the suffix
  kBlend,   // CacheBlend: recompute the chunk tokens whose layer-1 KV deviates most
  kGradual,  // CacheBlend's gradual filtering: twice the share checked at layer 1, narrowed
             // layer by layer (to the share at the last) to the tokens whose KV keeps
             // deviating most
  kAdaptive,  // Cache-Craft: per chunk, recompute a share set by how much it leaned on
              // the chunks it was cached after and how much those differ now
  kSinks,     // EPIC's LegoLink: recompute the first sink_tokens tokens of every chunk
  kQuery,     // recompute the chunk tokens the question attends to most over the placed
              // KV (recompute_ratio of them, every chunk's first sink_tokens first)
  kApe,       // APE: recompute nothing; later tokens attend to the chunks with tempered
              // logits and a scaled log-sum-exp (ape_temperature, ape_scale)
};

std::optional<FusionMode> ParseFusionMode(std::string_view name);
const char* FusionModeName(FusionMode mode);
// "full, prefix, naive, blend, gradual, adaptive, sinks, query or ape": for error messages.
const char* FusionModeList();
// Whether `mode` places chunks' cached KV: every mode but full and prefix, which compute
// every token after the kept prefix exactly.
bool ReusesChunkKv(FusionMode mode);
// Of the first `cached` prompt positions whose exact KV the caller has (a prefix-cache
// hit), how many `mode` keeps: none for full, all for prefix, at most the prefix segment
// for the modes that reuse chunk KV; never the last token, whose logits are needed.
int32_t KeptPrefix(const SegmentedPrompt& prompt, FusionMode mode, int32_t cached);

// The mode the server, `ask` and `make run` use unless told otherwise: the most accurate at
// <= 15% of the chunk tokens recomputed on eval-qa's validation half (see README.md).
inline constexpr FusionMode kDefaultReuseMode = FusionMode::kQuery;

struct FusionOptions {
  FusionMode mode = kDefaultReuseMode;
  // blend: share of chunk tokens recomputed in layers >= 1; gradual: the share it narrows to
  // at the last layer (layer 1 checks twice it); query: share recomputed through every layer.
  // One default for every mode that reads it, chosen for query, the default mode: 0.1, on
  // eval-qa's validation half its lowest share that answers every kind of question at least
  // as often as full prefill on both demo models (0.08 loses one coreference question on
  // the plain one, 0.06 more).
  float recompute_ratio = 0.1f;
  // blend: the i-th of q recomputed tokens attends to the first k - q + i + 1 of the k
  // prompt tokens (the bottom-right causal mask of CacheBlend's and LMCache's kernels)
  // instead of exactly the tokens at or before its position.
  bool bottom_right_mask = false;
  // adaptive: the share of a chunk recomputed is min(1, alpha * CCI * (1 - beta')).
  float adaptive_alpha = 1.0f;
  // sinks and query: every chunk's first tokens recomputed (query: within its share);
  // kMethodDefault: sinks 8, query 0 (chosen on eval-qa's validation half).
  static constexpr int32_t kMethodDefault = -1;
  int32_t sink_tokens = kMethodDefault;
  // query: the question's attention is measured over layers [0, query_layers) (0: all).
  int32_t query_layers = 0;
  // ape: the temperature of later tokens' logits to chunk tokens (> 0), and the factor of
  // the chunks' log-sum-exp (>= 0); both 1 is naive. The defaults scored best on eval-qa's
  // validation half of the plain demo model over T, S in {0.6, 0.8, 1} x {0.8, 1, 1.2},
  // within a question of naive: no setting there repairs chunks computed alone.
  float ape_temperature = 0.8f;
  float ape_scale = 0.8f;
  // Every mode that reuses chunk KV: when the fused prefill's most likely first token has a
  // probability below fallback_below, the prompt is prefilled again in full and its logits
  // are the ones used (0: never). Off by default: a model that is seldom that sure of its
  // first token (open-ended answers, random weights) would pay for both prefills on most
  // prompts; on eval-qa's validation questions (README.md) 0.4 redid 3% of them in full.
  float fallback_below = 0;
  // full: store every chunk of the prompt as computed there, with the attention
  // statistics adaptive needs (a Cache-Craft chunk variant), replacing what was stored.
  bool record_chunks = false;
};

// The knobs of FusionOptions a request may set, and whether a mode reads one (a knob given
// for a mode that does not read it would be ignored: callers refuse it).
enum class FusionKnob {
  kRecomputeRatio,
  kAdaptiveAlpha,
  kSinkTokens,
  kQueryLayers,
  kApeTemperature,
  kApeScale,
  kFallbackBelow,
};
bool ModeReadsKnob(FusionMode mode, FusionKnob knob);

// Whether `o` is the default mode with every knob at its default (what benchmarks mark).
bool IsDefaultFusion(const FusionOptions& o);
// How many of n tokens a share `ratio` recomputes (rounded up; blend and query).
int32_t RecomputedCount(float ratio, int32_t n);

}  // namespace kvfuse::fuse
