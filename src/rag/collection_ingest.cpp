// Collection::Ingest: files into chunks, chunks into vectors and chunk KV.
#include <algorithm>
#include <filesystem>
#include <unordered_set>

#include "rag/collection.h"
#include "rag/text_util.h"
#include "util/hash.h"

namespace kvfuse::rag {
namespace fs = std::filesystem;
using util::Status;

namespace {

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

IngestReport Collection::Ingest(const std::vector<std::string>& paths, const ChunkOptions& options,
                                const IngestHooks& hooks, const ReadOptions& read) {
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
  std::unordered_set<std::string> seen;  // a file named twice (a directory and a file in it) is read once
  for (size_t i = 0; i < files.size(); ++i) {
    if (hooks.progress) hooks.progress("reading", i, files.size());
    std::error_code ec;
    const std::string path = fs::weakly_canonical(fs::absolute(files[i], ec), ec).string();
    if (seen.insert(path).second) IngestFile(path, options, hooks, read, report, fresh, gone);
  }
  if (hooks.progress) hooks.progress("reading", files.size(), files.size());
  if (!gone.empty()) {
    RemoveChunks(gone);
    std::erase_if(fresh, [&](int32_t id) { return gone.count(id) > 0; });
  }
  // Chunks of unchanged files that lost their vector (model change, damaged vectors.bin).
  const std::unordered_set<int32_t> added(fresh.begin(), fresh.end());
  for (const CollectionChunk& c : chunks_)
    if (!vectors_.count(c.id) && !added.count(c.id)) fresh.push_back(c.id);
  EmbedAndWarm(fresh, hooks, report);
  if (!fresh.empty()) warning_.clear();
  RebuildIndexes();
  return report;
}

void Collection::IngestFile(const std::string& path, const ChunkOptions& options, const IngestHooks& hooks,
                            const ReadOptions& read, IngestReport& report, std::vector<int32_t>& fresh,
                            std::unordered_set<int32_t>& gone) {
  if (!IsValidUtf8(path)) {  // the manifest (JSON) could not keep its name
    report.errors.push_back(ToValidUtf8(path) + ": the file name is not valid UTF-8; rename it; skipped");
    ++report.files_failed;
    return;
  }
  auto known = std::find_if(files_.begin(), files_.end(), [&](const CollectionFile& f) { return f.path == path; });
  auto bytes = ReadDocumentBytes(path, read);
  if (!bytes.ok()) {
    report.errors.push_back(bytes.status().message());
    ++report.files_failed;
    return;
  }
  util::Hasher h;
  h.Add(bytes.value()).AddValue(OptionsHash(options));
  const uint64_t hash = h.Digest();
  if (known != files_.end() && known->content_hash == hash) {
    ++report.files_unchanged;
    return;
  }
  const auto doc = ParseDocument(path, bytes.value());
  std::string().swap(bytes.value());  // frees the file's bytes before chunking
  if (!doc.ok()) {
    report.errors.push_back(doc.status().message());
    ++report.files_failed;
    return;
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
    std::string heading = t.heading.empty() ? doc->title : std::move(t.heading);
    const int32_t id = AddChunk({0, path, std::move(heading), std::move(t.text), t.n_tokens});
    known->chunk_ids.push_back(id);
    fresh.push_back(id);
    ++report.chunks_added;
  }
}

void Collection::EmbedAndWarm(const std::vector<int32_t>& fresh, const IngestHooks& hooks, IngestReport& report) {
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
}

}  // namespace kvfuse::rag
