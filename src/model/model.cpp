#include "model/model.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "kernels/quantize.h"
#include "kernels/ops.h"
#include "model/blocks/blocks.h"
#include "util/hash.h"
#include "util/mapped_file.h"

namespace kvfuse::model {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

// The file is a read-only private mapping (gguf::GgufFile::Open): a released page is read
// from the file again when touched.
uint64_t Fingerprint(const gguf::GgufFile& file, const HParams& hp) {
  util::Hasher h;
  for (const auto& t : file.tensors()) {
    h.Add(t.name).Add(t.data, t.n_bytes);
    util::MappedFile::ReleasePages(t.data, t.n_bytes);
  }
  h.Add(hp.arch).AddValue(hp.rope_theta).AddValue(hp.rope_freq_scale).AddValue(hp.rope_dim).AddValue(hp.rms_eps);
  h.AddValue(hp.n_swa).AddValue(hp.swa_period).AddValue(hp.rope_theta_swa).AddValue(hp.attn_scale);
  h.AddValue(hp.attn_softcap).AddValue(hp.embd_scale);
  return h.Digest();
}

}  // namespace

Result<std::unique_ptr<Model>> Model::Open(const std::string& path, const kernels::KernelTable& kernels) {
  Result<gguf::GgufFile> file = gguf::GgufFile::Open(path);
  if (!file.ok()) return file.status();
  Result<HParams> hp = ReadHParams(file.value());
  if (!hp.ok()) return hp.status();
  Result<ModelWeights> w = LoadWeights(file.value(), hp.value());
  if (!w.ok()) return w.status();
  // The first pass over the weights releases each tensor's pages after hashing it, and
  // packing each packed matrix's after packing it; then the whole file's (its header, the
  // pages tensors share at their edges): the process holds the packed copies, the norms'
  // copies and what the forward pass reads from the file (unpacked matrices), not the file.
  const uint64_t fingerprint = Fingerprint(file.value(), hp.value());
  PackedWeights packed;
  PackWeights(kernels, w.value(), packed);
  file.value().ReleasePages();
  return std::unique_ptr<Model>(new Model(std::move(file).value(), std::move(hp).value(), std::move(w).value(),
                                          std::move(packed), fingerprint));
}

Status Model::Validate(const TokenBatch& batch, const kv::KvManager& kv) const {
  const int n = batch.size();
  if (n == 0) return Status::Error("empty batch");
  if (static_cast<int>(batch.positions.size()) != n || static_cast<int>(batch.seq_ids.size()) != n ||
      static_cast<int>(batch.kv_slots.size()) != n)
    return Status::Error("batch arrays differ in length");
  if (!batch.attend_limits.empty() && static_cast<int>(batch.attend_limits.size()) != n)
    return Status::Error("attend_limits must be empty or one per token");
  const kv::KvGeometry g = kv_geometry();
  const kv::KvGeometry& kg = kv.cache().geometry();
  if (kg.n_layers != g.n_layers || kg.n_kv_heads != g.n_kv_heads || kg.head_dim != g.head_dim)
    return Status::Error("KV cache geometry does not match the model");
  std::set<int32_t> slots;
  for (int t = 0; t < n; ++t) {
    if (batch.token_ids[t] < 0 || batch.token_ids[t] >= hp_.n_vocab)
      return Status::Error(StrFormat("token id %d at batch row %d is outside the vocabulary (0..%d)",
                                     batch.token_ids[t], t, hp_.n_vocab - 1));
    if (batch.positions[t] < 0) return Status::Error(StrFormat("negative position at batch row %d", t));
    if (batch.seq_ids[t] < 0) return Status::Error(StrFormat("negative sequence id at batch row %d", t));
    if (batch.kv_slots[t] < 0 || batch.kv_slots[t] >= kv.n_slots())
      return Status::Error(StrFormat("KV slot %d at batch row %d is outside the cache (%d slots)",
                                     batch.kv_slots[t], t, kv.n_slots()));
    if (!slots.insert(batch.kv_slots[t]).second)
      return Status::Error(StrFormat("KV slot %d is written twice in one batch", batch.kv_slots[t]));
  }
  for (int t = 0; t < n; ++t) {
    const int32_t seq = batch.seq_ids[t], pos = batch.positions[t];
    if (pos >= kv.capacity(seq))
      return Status::Error(StrFormat("position %d of sequence %d at batch row %d has no KV block", pos, seq, t));
    if (batch.kv_slots[t] != kv.SlotOf(seq, pos))
      return Status::Error(StrFormat("KV slot %d at batch row %d is not where sequence %d keeps position %d",
                                     batch.kv_slots[t], t, seq, pos));
  }
  for (int32_t r : batch.output_rows)
    if (r < 0 || r >= n) return Status::Error(StrFormat("output row %d is outside the batch", r));
  return Status::Ok();
}

void Model::Embed(const TokenBatch& batch, float* hidden) const {
  // Rows are read from the file, not the mapping: a lookup through the mapping can bring a
  // page-cache folio of megabytes into RSS, and scattered lookups the whole table, which the
  // process already holds packed when the output is tied to it.
  std::vector<uint8_t> bytes(w_.token_embd.row_bytes());
  for (int t = 0; t < batch.size(); ++t) {
    float* row = hidden + static_cast<size_t>(t) * hp_.n_embd;
    const uint8_t* stored = w_.token_embd.row(batch.token_ids[t]);
    // A weights file that cannot be read under a running engine leaves only its mapping: as
    // every other weight is read (and as llama.cpp's are), a page past a truncation is a SIGBUS.
    if (!file_.Read(stored, bytes.size(), bytes.data()).ok()) std::memcpy(bytes.data(), stored, bytes.size());
    kernels::DequantizeRow(w_.token_embd.type, bytes.data(), row, hp_.n_embd);
    if (hp_.embd_scale != 1.0f)
      for (int i = 0; i < hp_.n_embd; ++i) row[i] *= hp_.embd_scale;
  }
}

void Model::RunLayers(ForwardContext& ctx, const TokenBatch& batch, int layer_begin, int layer_end, float* hidden,
                      kv::KvManager& kv, const std::vector<int32_t>* read_rows) const {
  KVFUSE_CHECK(0 <= layer_begin && layer_begin <= layer_end && layer_end <= hp_.n_layers);
  const int32_t n = batch.size();
  const bool divisible = ctx.layer_gate && DivisibleByTokens(batch);
  for (int il = layer_begin; il < layer_end; ++il) {
    const std::vector<int32_t>* ffn_rows = il + 1 == layer_end ? read_rows : nullptr;
    // Layer by layer, each in the pieces the gate lets run (positions ascending: a piece
    // attends to the layer's keys of the pieces before it, as the whole batch would).
    for (int32_t begin = 0; begin < n;) {
      const int32_t piece = ctx.layer_gate ? ctx.layer_gate->BeforeLayer(n - begin, divisible) : n;
      KVFUSE_CHECK(piece >= 1 && begin + piece <= n && (divisible || piece == n));
      if (piece == n) {
        RunLayer(ctx, il, batch, hidden, kv, ffn_rows);
      } else {
        std::vector<int32_t> piece_rows;  // ffn_rows within the piece, from its first row
        if (ffn_rows)
          for (int32_t r : *ffn_rows)
            if (r >= begin && r < begin + piece) piece_rows.push_back(r - begin);
        AttentionRecorder* rec = ctx.recorder;
        if (rec) rec->row_offset += begin;
        RunLayer(ctx, il, batch.Rows(begin, piece), hidden + static_cast<size_t>(begin) * hp_.n_embd, kv,
                 ffn_rows ? &piece_rows : nullptr);
        if (rec) rec->row_offset -= begin;
      }
      begin += piece;
    }
  }
}

void Model::RunLayer(ForwardContext& ctx, int layer, const TokenBatch& batch, float* hidden, kv::KvManager& kv,
                     const std::vector<int32_t>* ffn_rows) const {
  blocks::AttentionBlock(ctx, hp_, w_.layers[layer], layer, batch, hidden, kv);
  if (ffn_rows == nullptr || static_cast<int32_t>(ffn_rows->size()) == batch.size()) {
    blocks::FfnBlock(ctx, hp_, w_.layers[layer], batch.size(), hidden);
    return;
  }
  if (ffn_rows->empty()) return;
  const size_t n_embd = hp_.n_embd;
  std::vector<float> rows(ffn_rows->size() * n_embd);
  for (size_t i = 0; i < ffn_rows->size(); ++i)
    std::copy_n(hidden + (*ffn_rows)[i] * n_embd, n_embd, rows.data() + i * n_embd);
  blocks::FfnBlock(ctx, hp_, w_.layers[layer], static_cast<int>(ffn_rows->size()), rows.data());
  for (size_t i = 0; i < ffn_rows->size(); ++i)
    std::copy_n(rows.data() + i * n_embd, n_embd, hidden + (*ffn_rows)[i] * n_embd);
}

void Model::Logits(ForwardContext& ctx, const float* hidden, int64_t n_rows, float* logits) const {
  ctx.norm.resize(static_cast<size_t>(n_rows) * hp_.n_embd);
  for (int64_t r = 0; r < n_rows; ++r)
    kernels::RmsNorm(hidden + r * hp_.n_embd, w_.output_norm, hp_.n_embd, hp_.rms_eps,
                     ctx.norm.data() + r * hp_.n_embd);
  kernels::MatMul(*ctx.kernels, ctx.pool, w_.output, ctx.norm.data(), n_rows, logits,
                  ctx.act_scratch);
  if (hp_.final_softcap > 0) kernels::SoftCap(logits, n_rows * hp_.n_vocab, hp_.final_softcap);
}

void Model::ProjectKv(ForwardContext& ctx, const TokenBatch& batch, int layer, const float* hidden,
                      std::vector<float>& k, std::vector<float>& v) const {
  KVFUSE_CHECK(0 <= layer && layer < hp_.n_layers);
  blocks::ProjectKv(ctx, hp_, w_.layers[layer], layer, batch, hidden);
  k = ctx.k;
  v = ctx.v;
}

Status Model::Forward(ForwardContext& ctx, const TokenBatch& batch, kv::KvManager& kv,
                      std::vector<float>& logits) const {
  KVFUSE_RETURN_IF_ERROR(Validate(batch, kv));
  const size_t n_embd = hp_.n_embd;
  std::vector<float> hidden(static_cast<size_t>(batch.size()) * n_embd);
  Embed(batch, hidden.data());
  std::vector<int32_t> read_rows(batch.output_rows);
  std::sort(read_rows.begin(), read_rows.end());
  read_rows.erase(std::unique(read_rows.begin(), read_rows.end()), read_rows.end());
  RunLayers(ctx, batch, 0, hp_.n_layers, hidden.data(), kv, &read_rows);
  std::vector<float> selected(batch.output_rows.size() * n_embd);
  for (size_t i = 0; i < batch.output_rows.size(); ++i)
    std::copy_n(hidden.data() + batch.output_rows[i] * n_embd, n_embd, selected.data() + i * n_embd);
  logits.resize(batch.output_rows.size() * static_cast<size_t>(hp_.n_vocab));
  if (!batch.output_rows.empty())
    Logits(ctx, selected.data(), static_cast<int64_t>(batch.output_rows.size()), logits.data());
  return Status::Ok();
}

}  // namespace kvfuse::model
