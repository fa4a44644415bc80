// A collection of ingested documents on disk, in its own directory:
//   collection.json  files (path, content hash, chunk ids) and chunks (heading, text, tokens),
//                    versioned and checksummed: a damaged one is never served
//   vectors.bin      one embedding per chunk, checksummed (recomputed when damaged)
//   kv/              the chunk store's disk tier, filled by the warm hook at ingest
// (see collection_files.h). Files are written atomically; Open removes the temporaries of
// writes that were killed. Re-ingesting an unchanged file does nothing; a changed one
// replaces its chunks; another model (fingerprint) or embedding layer re-embeds and re-warms
// everything.
// Search fuses BM25 and dense vectors with reciprocal-rank fusion, then follows the
// headings named in the top hits (a second hop).
//
// Threading: Open, Ingest and Save on one thread; the const members from any number of
// threads while none of those runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "rag/bm25_index.h"
#include "rag/chunker.h"
#include "rag/document.h"
#include "rag/vector_index.h"
#include "util/status.h"

namespace kvfuse::rag {

struct ManifestRead;

struct CollectionChunk {
  int32_t id = 0;
  std::string file;
  std::string heading;  // the section heading, else the document title
  std::string text;
  int32_t n_tokens = 0;
};

struct CollectionFile {
  std::string path;  // absolute
  uint64_t content_hash = 0;  // of the bytes and the chunk options
  std::vector<int32_t> chunk_ids;
};

// The text BM25 and the embedding see: the section heading, a line break, the text (the
// heading gives a chunk its context: a chunk that says only "she" still belongs to its person).
std::string IndexText(const CollectionChunk& chunk);

struct IngestHooks {
  uint64_t model_fingerprint = 0;  // what embed and warm depend on
  int32_t embed_layer = 0;         // likewise: the depth of the hidden states embed pools
  TokenCounter count_tokens;
  // The embedding of a chunk's IndexText.
  std::function<util::Result<std::vector<float>>(const std::string& text)> embed;
  std::function<util::Status(const CollectionChunk&)> warm;  // optional: pre-computes chunk KV
  std::function<void(std::string_view stage, size_t done, size_t total)> progress;  // optional
};

struct IngestReport {
  size_t files_new = 0, files_changed = 0, files_unchanged = 0, files_failed = 0;
  size_t chunks_added = 0, chunks_removed = 0, chunks_embedded = 0, chunks_warmed = 0;
  std::vector<std::string> errors;  // one line per file or chunk that failed
};

struct SearchOptions {
  size_t k = 6;
  size_t candidates = 50;  // per retriever, before fusion
  // Reciprocal-rank fusion weights. Dense vectors from a model not trained to embed (the
  // demo model) are a weak retriever: at equal weight they cut the demo world's recall@6
  // from 1.0 (BM25 alone) to 0.61. Small, they reorder BM25's near-ties. On eval-qa --e2e's
  // validation half, both demo models' full prefills answered the most questions at 0.03
  // (recall@6 1.0 on every kind; at 0.1 recall fell to 0.92-0.99 and multi-hop answers by a
  // fifth; at 0 and 0.01, fewer answers too). Raise dense_weight for a real embedding model.
  double bm25_weight = 1.0, dense_weight = 0.03;
  size_t link_from = 2;  // top fused hits whose text is scanned for other sections' headings
  size_t links_per_hit = 2;  // sections one hit brings at most
};

struct SearchHit {
  int32_t id = 0;
  double score = 0;
  int32_t bm25_rank = 0, dense_rank = 0;  // 1-based; 0 = not in that list
  int32_t linked_from = -1;               // the hit whose text named this chunk's section
};

// Every supported file under the given paths (directories recursively, in name order).
// Paths that do not exist are reported in `errors`; a named file is kept whatever its type,
// so that ingesting it reports why it cannot be read.
std::vector<std::string> ExpandPaths(const std::vector<std::string>& paths, std::vector<std::string>& errors);

struct OpenOptions {
  // For ingest: a damaged or outdated collection.json is logged and ignored: the collection
  // opens empty, and Save replaces it with one rebuilt from the files that ingest was given.
  // Otherwise (ask, serve) it is an error that says to re-ingest: damaged text is never served.
  bool rebuild_damaged = false;
};

class Collection {
 public:
  // Opens the collection in `dir`, or an empty one if there is none yet (created by Save).
  static util::Result<Collection> Open(const std::string& dir, const OpenOptions& options = {});

  const std::string& dir() const { return dir_; }
  std::string kv_dir() const { return KvDirOf(dir_); }
  // Where the collection in `dir` keeps its chunks' KV (pre-computed at ingest).
  static std::string KvDirOf(const std::string& dir) { return dir + "/kv"; }
  uint64_t model_fingerprint() const { return model_fingerprint_; }
  int32_t embed_layer() const { return embed_layer_; }
  const std::vector<CollectionFile>& files() const { return files_; }
  size_t n_chunks() const { return chunks_.size(); }
  const CollectionChunk* chunk(int32_t id) const;
  // Set when vectors.bin was missing, damaged or not the manifest's (dense search covers
  // fewer chunks until the next ingest recomputes them), or when Open ignored collection.json.
  const std::string& warning() const { return warning_; }
  // Damaged files Open found (collection.json set aside, vectors.bin), each also logged once
  // on stderr ("kvfuse: <file> is damaged (...); ..."). For a metrics page.
  uint64_t damaged_files() const { return damaged_files_; }

  // Files over read.max_file_bytes, and text files whose content is not text, are reported
  // in the errors and skipped; the others are ingested.
  IngestReport Ingest(const std::vector<std::string>& paths, const ChunkOptions& options, const IngestHooks& hooks,
                      const ReadOptions& read = {});
  util::Status Save() const;

  // query_vector: the query's embedding ([dim]) or nullptr for lexical search only.
  std::vector<SearchHit> Search(std::string_view query, const float* query_vector, const SearchOptions& options) const;

 private:
  explicit Collection(std::string dir) : dir_(std::move(dir)) {}
  // Opens empty (rebuild) or fails, by what is wrong with the manifest and the options.
  static util::Result<Collection> SetAside(Collection c, const ManifestRead& manifest, const OpenOptions& options);
  // The vectors saved with the manifest (whose checksum it recorded).
  void LoadVectors(uint64_t checksum);
  // One file of an ingest: new or changed, its chunks are added to `fresh` and the chunks
  // it had to `gone`.
  void IngestFile(const std::string& path, const ChunkOptions& options, const IngestHooks& hooks,
                  const ReadOptions& read, IngestReport& report, std::vector<int32_t>& fresh,
                  std::unordered_set<int32_t>& gone);
  void EmbedAndWarm(const std::vector<int32_t>& fresh, const IngestHooks& hooks, IngestReport& report);
  void RebuildIndexes();
  int32_t AddChunk(CollectionChunk chunk);
  // Drops chunks (and their vectors) in one pass over the collection.
  void RemoveChunks(const std::unordered_set<int32_t>& gone);
  // The chunks of `id`'s section (same file and heading) in reading order; just `id` under a
  // heading of one word.
  std::vector<int32_t> SectionOf(int32_t id) const;
  // Chunks under a heading (of two words or more) that chunk `from` names in its text, or
  // with whole_section that any chunk of its section names.
  std::vector<int32_t> Links(int32_t from, bool whole_section) const;
  // v minus the collection's mean vector, L2-normalised: embeddings of a language model share
  // a large common direction that would otherwise dominate every similarity.
  std::vector<float> Centered(const float* v) const;

  std::string dir_;
  uint64_t model_fingerprint_ = 0;
  int32_t embed_layer_ = 0;
  int32_t next_id_ = 0;
  std::vector<CollectionFile> files_;
  std::vector<CollectionChunk> chunks_;
  std::unordered_map<int32_t, size_t> index_of_;        // chunk id -> position in chunks_
  std::unordered_map<int32_t, std::vector<float>> vectors_;  // chunk id -> embedding
  int32_t dim_ = 0;
  std::vector<float> mean_, stddev_;  // [dim_]
  std::string warning_;
  uint64_t damaged_files_ = 0;
  Bm25Index bm25_;
  VectorIndex dense_{1};
  std::unordered_map<std::string, std::vector<int32_t>> by_heading_;  // normalised heading -> chunks
};

}  // namespace kvfuse::rag
