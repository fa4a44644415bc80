#include "rag/collection.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "rag/rank_fusion.h"
#include "rag/text_util.h"
#include "util/atomic_file.h"
#include "util/hash.h"

namespace kvfuse::rag {
namespace fs = std::filesystem;
using util::Result;
using util::Status;

namespace {

constexpr char kManifest[] = "collection.json";
constexpr char kVectors[] = "vectors.bin";
constexpr char kVectorsMagic[8] = {'K', 'V', 'F', 'V', 'E', 'C', '0', '1'};
constexpr int kFormatVersion = 1;

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

uint64_t ParseHex(const std::string& s) { return std::stoull(s, nullptr, 16); }

// The text BM25 and the embedding see: the section heading gives a chunk its context
// (a chunk that says only "she" still belongs to its person).
std::string IndexText(const CollectionChunk& c) { return c.heading + "\n" + c.text; }

std::string NormalizedHeading(std::string_view heading) {
  std::string out;
  for (const std::string& w : Words(heading)) out += (out.empty() ? "" : " ") + w;
  return out;
}

uint64_t OptionsHash(const ChunkOptions& o) {
  util::Hasher h;
  h.AddValue(o.max_tokens).AddValue(o.overlap_tokens).AddValue(o.min_tokens);
  return h.Digest();
}

}  // namespace

std::vector<std::string> ExpandPaths(const std::vector<std::string>& paths, std::vector<std::string>& errors) {
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && IsSupportedDocument(it->path().string())) found.push_back(it->path().string());
      }
      if (ec) errors.push_back(p + ": " + ec.message());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      errors.push_back(p + ": no such file or directory");
    }
  }
  return files;
}

Result<Collection> Collection::Open(const std::string& dir) {
  Collection c(dir);
  const std::string manifest = dir + "/" + kManifest;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) return Status::Error(dir + ": exists and is not a directory");
  if (!fs::exists(manifest, ec)) return c;
  auto bytes = ReadFileBytes(manifest);
  if (!bytes.ok()) return bytes.status();
  try {
    const nlohmann::json j = nlohmann::json::parse(bytes.value());
    if (j.at("format") != "kvfuse-collection") return Status::Error(manifest + ": not a kvfuse collection");
    if (j.at("version") != kFormatVersion)
      return Status::Error(manifest + ": collection format version " + j.at("version").dump() + " is not supported");
    c.model_fingerprint_ = ParseHex(j.at("model_fingerprint").get<std::string>());
    c.embed_layer_ = j.at("embed_layer").get<int32_t>();
    c.next_id_ = j.at("next_id").get<int32_t>();
    for (const auto& f : j.at("files"))
      c.files_.push_back({f.at("path").get<std::string>(), ParseHex(f.at("hash").get<std::string>()),
                          f.at("chunks").get<std::vector<int32_t>>()});
    for (const auto& ch : j.at("chunks")) {
      CollectionChunk chunk{ch.at("id").get<int32_t>(), ch.at("file").get<std::string>(),
                            ch.at("heading").get<std::string>(), ch.at("text").get<std::string>(),
                            ch.at("tokens").get<int32_t>()};
      if (chunk.id < 0 || chunk.id >= c.next_id_ || c.index_of_.count(chunk.id))
        return Status::Error(manifest + ": bad chunk id " + std::to_string(chunk.id));
      c.index_of_[chunk.id] = c.chunks_.size();
      c.chunks_.push_back(std::move(chunk));
    }
  } catch (const std::exception& e) {
    return Status::Error(manifest + " is damaged (" + e.what() + "); delete " + dir + " and ingest again");
  }
  if (const Status st = c.LoadVectors(); !st.ok()) c.warning_ = st.message();
  c.RebuildIndexes();
  return c;
}

Status Collection::LoadVectors() {
  const std::string path = dir_ + "/" + kVectors;
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) return Status::Error(path + " is missing: dense search is off until the next ingest");
  const std::string& b = bytes.value();
  constexpr size_t kHeader = 8 + 4 + 8 + 8;
  int32_t dim = 0;
  uint64_t count = 0, checksum = 0;
  if (b.size() >= kHeader) {
    std::memcpy(&dim, b.data() + 8, 4);
    std::memcpy(&count, b.data() + 12, 8);
    std::memcpy(&checksum, b.data() + 20, 8);
  }
  const uint64_t row = 4 + static_cast<uint64_t>(std::max(dim, 0)) * 4;
  if (b.size() < kHeader || std::memcmp(b.data(), kVectorsMagic, 8) != 0 || dim <= 0 || dim > (1 << 16) ||
      count > (b.size() - kHeader) / row || b.size() != kHeader + count * row ||
      util::Hash64(b.data() + kHeader, b.size() - kHeader) != checksum)
    return Status::Error(path + " is damaged: dense search is off until the next ingest recomputes it");
  dim_ = dim;
  for (uint64_t i = 0; i < count; ++i) {
    const char* p = b.data() + kHeader + i * row;
    int32_t id;
    std::memcpy(&id, p, 4);
    if (!index_of_.count(id)) continue;
    std::vector<float> v(dim);
    std::memcpy(v.data(), p + 4, static_cast<size_t>(dim) * 4);
    vectors_[id] = std::move(v);
  }
  return Status::Ok();
}

std::vector<float> Collection::Centered(const float* v) const {
  std::vector<float> out(dim_);
  double norm = 0;
  for (int32_t j = 0; j < dim_; ++j) {
    out[j] = (v[j] - mean_[j]) / stddev_[j];
    norm += static_cast<double>(out[j]) * out[j];
  }
  const float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
  for (float& x : out) x *= scale;
  return out;
}

void Collection::RebuildIndexes() {
  bm25_ = Bm25Index();
  dense_ = VectorIndex(std::max(dim_, 1));
  by_heading_.clear();
  mean_.assign(std::max(dim_, 0), 0.0f);
  size_t n_vectors = 0;
  for (const auto& [id, v] : vectors_)
    if (static_cast<int32_t>(v.size()) == dim_) {
      for (int32_t j = 0; j < dim_; ++j) mean_[j] += v[j];
      ++n_vectors;
    }
  for (float& m : mean_) m /= static_cast<float>(std::max<size_t>(n_vectors, 1));
  stddev_.assign(std::max(dim_, 0), 0.0f);
  for (const auto& [id, v] : vectors_)
    if (static_cast<int32_t>(v.size()) == dim_)
      for (int32_t j = 0; j < dim_; ++j) stddev_[j] += (v[j] - mean_[j]) * (v[j] - mean_[j]);
  for (float& s : stddev_) s = std::sqrt(s / static_cast<float>(std::max<size_t>(n_vectors, 1))) + 1e-6f;
  for (const CollectionChunk& c : chunks_) {
    bm25_.Add(c.id, IndexText(c));
    const auto v = vectors_.find(c.id);
    if (v != vectors_.end() && static_cast<int32_t>(v->second.size()) == dim_)
      dense_.Add(c.id, Centered(v->second.data()).data());
    const std::string h = NormalizedHeading(c.heading);
    if (h.find(' ') != std::string::npos) by_heading_[h].push_back(c.id);  // two words or more
  }
}

const CollectionChunk* Collection::chunk(int32_t id) const {
  const auto it = index_of_.find(id);
  return it == index_of_.end() ? nullptr : &chunks_[it->second];
}

int32_t Collection::AddChunk(CollectionChunk chunk) {
  chunk.id = next_id_++;
  index_of_[chunk.id] = chunks_.size();
  chunks_.push_back(std::move(chunk));
  return chunks_.back().id;
}

void Collection::RemoveChunks(const std::unordered_set<int32_t>& gone) {
  std::erase_if(chunks_, [&](const CollectionChunk& c) { return gone.count(c.id) > 0; });
  for (int32_t id : gone) vectors_.erase(id);
  index_of_.clear();
  for (size_t i = 0; i < chunks_.size(); ++i) index_of_[chunks_[i].id] = i;
}

IngestReport Collection::Ingest(const std::vector<std::string>& paths, const ChunkOptions& options,
                                const IngestHooks& hooks) {
  IngestReport report;
  if (const Status st = ValidateChunkOptions(options); !st.ok()) {
    report.errors.push_back(st.message());
    return report;
  }
  if (hooks.model_fingerprint != model_fingerprint_ || hooks.embed_layer != embed_layer_) {
    // Embeddings and chunk KV belong to the model: all of them are made again.
    vectors_.clear();
    model_fingerprint_ = hooks.model_fingerprint;
    embed_layer_ = hooks.embed_layer;
    for (CollectionFile& f : files_) f.content_hash = 0;
  }
  std::vector<int32_t> fresh;         // chunks to embed and warm
  std::unordered_set<int32_t> gone;   // chunks of changed files, dropped after the loop
  const std::vector<std::string> files = ExpandPaths(paths, report.errors);
  report.files_failed = report.errors.size();
  for (size_t i = 0; i < files.size(); ++i) {
    if (hooks.progress) hooks.progress("reading", i, files.size());
    std::error_code ec;
    const std::string path = fs::weakly_canonical(fs::absolute(files[i], ec), ec).string();
    auto bytes = ReadFileBytes(path);
    if (!bytes.ok()) {
      report.errors.push_back(bytes.status().message());
      ++report.files_failed;
      continue;
    }
    util::Hasher h;
    h.Add(bytes.value()).AddValue(OptionsHash(options));
    const uint64_t hash = h.Digest();
    auto known = std::find_if(files_.begin(), files_.end(), [&](const CollectionFile& f) { return f.path == path; });
    if (known != files_.end() && known->content_hash == hash) {
      ++report.files_unchanged;
      continue;
    }
    auto doc = ParseDocument(path, bytes.value());
    if (!doc.ok()) {
      report.errors.push_back(doc.status().message());
      ++report.files_failed;
      continue;
    }
    if (known == files_.end()) {
      files_.push_back({path, 0, {}});
      known = files_.end() - 1;
      ++report.files_new;
    } else {
      report.chunks_removed += known->chunk_ids.size();
      gone.insert(known->chunk_ids.begin(), known->chunk_ids.end());
      known->chunk_ids.clear();
      ++report.files_changed;
    }
    known->content_hash = hash;
    for (TextChunk& t : ChunkDocument(doc.value(), options, hooks.count_tokens)) {
      const std::string heading = t.heading.empty() ? doc->title : t.heading;
      const int32_t id = AddChunk({0, path, heading, std::move(t.text), t.n_tokens});
      known->chunk_ids.push_back(id);
      fresh.push_back(id);
      ++report.chunks_added;
    }
  }
  if (hooks.progress) hooks.progress("reading", files.size(), files.size());
  if (!gone.empty()) RemoveChunks(gone);
  // Chunks of unchanged files that lost their vector (model change, damaged vectors.bin).
  const std::unordered_set<int32_t> added(fresh.begin(), fresh.end());
  for (const CollectionChunk& c : chunks_)
    if (!vectors_.count(c.id) && !added.count(c.id)) fresh.push_back(c.id);
  for (size_t i = 0; i < fresh.size(); ++i) {
    if (hooks.progress) hooks.progress("embedding and pre-computing KV", i, fresh.size());
    const CollectionChunk& c = *chunk(fresh[i]);
    auto v = hooks.embed(IndexText(c));
    if (!v.ok()) {
      report.errors.push_back("chunk " + std::to_string(c.id) + " of " + c.file + ": " + v.status().message());
      continue;
    }
    if (dim_ != 0 && static_cast<int32_t>(v->size()) != dim_) vectors_.clear();  // a new embedding size
    dim_ = static_cast<int32_t>(v->size());
    vectors_[c.id] = std::move(v.value());
    ++report.chunks_embedded;
    if (hooks.warm) {
      if (const Status st = hooks.warm(c); !st.ok()) {
        report.errors.push_back("chunk " + std::to_string(c.id) + " of " + c.file + ": " + st.message());
        continue;
      }
      ++report.chunks_warmed;
    }
  }
  if (hooks.progress && !fresh.empty()) hooks.progress("embedding and pre-computing KV", fresh.size(), fresh.size());
  if (!fresh.empty()) warning_.clear();
  RebuildIndexes();
  return report;
}

Status Collection::Save() const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Status::Error(dir_ + ": cannot create the collection directory: " + ec.message());
  std::string payload;
  uint64_t count = 0;
  for (const CollectionChunk& c : chunks_) {
    const auto v = vectors_.find(c.id);
    if (v == vectors_.end() || static_cast<int32_t>(v->second.size()) != dim_) continue;
    payload.append(reinterpret_cast<const char*>(&c.id), 4);
    payload.append(reinterpret_cast<const char*>(v->second.data()), v->second.size() * 4);
    ++count;
  }
  const uint64_t checksum = util::Hash64(payload.data(), payload.size());
  std::string vectors(kVectorsMagic, 8);
  vectors.append(reinterpret_cast<const char*>(&dim_), 4);
  vectors.append(reinterpret_cast<const char*>(&count), 8);
  vectors.append(reinterpret_cast<const char*>(&checksum), 8);
  vectors += payload;
  KVFUSE_RETURN_IF_ERROR(util::WriteFileAtomically(dir_ + "/" + kVectors, vectors));

  nlohmann::json j;
  j["format"] = "kvfuse-collection";
  j["version"] = kFormatVersion;
  j["model_fingerprint"] = Hex(model_fingerprint_);
  j["embed_layer"] = embed_layer_;
  j["next_id"] = next_id_;
  j["files"] = nlohmann::json::array();
  for (const CollectionFile& f : files_)
    j["files"].push_back({{"path", f.path}, {"hash", Hex(f.content_hash)}, {"chunks", f.chunk_ids}});
  j["chunks"] = nlohmann::json::array();
  for (const CollectionChunk& c : chunks_)
    j["chunks"].push_back(
        {{"id", c.id}, {"file", c.file}, {"heading", c.heading}, {"text", c.text}, {"tokens", c.n_tokens}});
  return util::WriteFileAtomically(dir_ + "/" + kManifest, j.dump(1));
}

std::vector<int32_t> Collection::Links(int32_t from) const {
  std::vector<int32_t> linked;
  const CollectionChunk* c = chunk(from);
  const std::vector<std::string> words = Words(c->text);
  const std::string own = NormalizedHeading(c->heading);
  for (size_t w = 0; w < words.size(); ++w) {
    std::string gram = words[w];
    for (size_t n = 2; n <= 6 && w + n <= words.size(); ++n) {
      gram += " " + words[w + n - 1];
      const auto it = by_heading_.find(gram);
      if (it == by_heading_.end() || gram == own) continue;
      for (int32_t id : it->second)
        if (std::find(linked.begin(), linked.end(), id) == linked.end()) linked.push_back(id);
    }
  }
  return linked;
}

std::vector<SearchHit> Collection::Search(std::string_view query, const float* query_vector,
                                          const SearchOptions& options) const {
  RankedList lexical{{}, options.bm25_weight}, dense{{}, options.dense_weight};
  for (const ScoredId& s : bm25_.Search(query, options.candidates)) lexical.ids.push_back(s.id);
  if (query_vector && dense_.size() > 0)
    for (const ScoredId& s : dense_.Search(Centered(query_vector).data(), options.candidates))
      dense.ids.push_back(s.id);
  const std::vector<ScoredId> fused = ReciprocalRankFusion({lexical, dense});
  // Second hop: a section named in one of the top hits' text follows that hit (a person's
  // page names the company whose page holds the next fact).
  std::vector<SearchHit> hits;
  std::unordered_set<int32_t> taken;
  for (size_t i = 0; i < fused.size() && hits.size() < options.k; ++i) {
    if (taken.insert(fused[i].id).second) hits.push_back({fused[i].id, fused[i].score, 0, 0, -1});
    if (i >= options.link_from) continue;
    for (int32_t id : Links(fused[i].id))
      if (hits.size() < options.k && taken.insert(id).second) hits.push_back({id, fused[i].score, 0, 0, fused[i].id});
  }
  for (SearchHit& h : hits) {
    const auto rank = [&](const RankedList& l) {
      const auto it = std::find(l.ids.begin(), l.ids.end(), h.id);
      return it == l.ids.end() ? 0 : static_cast<int32_t>(it - l.ids.begin()) + 1;
    };
    h.bm25_rank = rank(lexical);
    h.dense_rank = rank(dense);
  }
  return hits;
}

}  // namespace kvfuse::rag
