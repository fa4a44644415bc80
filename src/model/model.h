// A loaded decoder-only transformer and its forward pass over a TokenBatch.
//
// Ownership: a Model owns its mapped GGUF file; weights are views into it. A Model is
// immutable after Open and may be shared by threads, each with its own ForwardContext
// and KV cache (kv::KvManager).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "kv/kv_manager.h"
#include "model/forward_context.h"
#include "model/hparams.h"
#include "model/token_batch.h"
#include "model/weight_packing.h"
#include "model/weights.h"

namespace kvfuse::model {

class Model {
 public:
  // Packs the weights `kernels` has packed products for (kernels::PackedKernels): the table
  // the model's forward passes will run, the fastest one by default.
  static util::Result<std::unique_ptr<Model>> Open(const std::string& path,
                                                   const kernels::KernelTable& kernels = kernels::BestKernels());

  const HParams& hparams() const { return hp_; }
  const gguf::GgufFile& file() const { return file_; }
  // The file's array metadata (the vocabulary), once the tokenizer has read it: a second copy
  // of it is not kept. Before the model is shared (gguf::GgufFile::DropArrays).
  void DropFileArrays() { file_.DropArrays(); }
  // Identity of the weights and of the hyper-parameters the KV depends on beyond them (a
  // file may change RoPE or the norms' epsilon alone): cached chunk KV is only valid for the
  // exact model it came from.
  uint64_t fingerprint() const { return fingerprint_; }
  kv::KvGeometry kv_geometry() const { return {hp_.n_layers, hp_.n_kv_heads, hp_.head_dim}; }

  // Checks token ids, positions and slots against the model and the cache: each token's
  // slot must be where its sequence's block table keeps its position.
  util::Status Validate(const TokenBatch& batch, const kv::KvManager& kv) const;

  // hidden: [batch.size(), n_embd]
  void Embed(const TokenBatch& batch, float* hidden) const;
  // Runs layers [layer_begin, layer_end) for every token of the batch, writing their K/V
  // into their slots; a token at position p attends to positions 0..p of its sequence
  // (p - n_swa + 1..p on a sliding layer). With ctx.layer_gate, each layer runs when and in
  // the pieces the gate says (see LayerGate). `read_rows`, when given, are the only rows
  // (ascending) whose hidden states the caller reads afterwards: layer layer_end - 1 runs its
  // feed-forward for those rows alone (as llama.cpp skips rows it outputs no logits for), and
  // leaves the others as its attention left them. Every K/V written is the same.
  void RunLayers(ForwardContext& ctx, const TokenBatch& batch, int layer_begin, int layer_end,
                 float* hidden, kv::KvManager& kv, const std::vector<int32_t>* read_rows = nullptr) const;
  // K (rotated for the batch positions) and V that layer `layer` would write for each
  // batch token given its input hidden states; written to k and v [batch.size(), kv row],
  // the cache untouched.
  void ProjectKv(ForwardContext& ctx, const TokenBatch& batch, int layer, const float* hidden,
                 std::vector<float>& k, std::vector<float>& v) const;
  // Final norm and output projection: hidden [n_rows, n_embd] -> logits [n_rows, n_vocab].
  void Logits(ForwardContext& ctx, const float* hidden, int64_t n_rows, float* logits) const;

  // Embed, all layers, then logits of batch.output_rows (in that order).
  util::Status Forward(ForwardContext& ctx, const TokenBatch& batch, kv::KvManager& kv,
                       std::vector<float>& logits) const;

 private:
  // One layer for every token of the batch; when `ffn_rows` is given (the rows read after
  // it, ascending), its feed-forward for those rows only.
  void RunLayer(ForwardContext& ctx, int layer, const TokenBatch& batch, float* hidden, kv::KvManager& kv,
                const std::vector<int32_t>* ffn_rows = nullptr) const;

  Model(gguf::GgufFile file, HParams hp, ModelWeights w, PackedWeights packed, uint64_t fingerprint)
      : file_(std::move(file)),
        hp_(std::move(hp)),
        w_(std::move(w)),
        packed_(std::move(packed)),
        fingerprint_(fingerprint) {}

  gguf::GgufFile file_;
  HParams hp_;
  ModelWeights w_;
  PackedWeights packed_;  // what views of w_ point at for the fastest kernel table
  uint64_t fingerprint_;
};

}  // namespace kvfuse::model
