// kvfuse ingest: documents into a collection (chunks, BM25, vectors) with every chunk's KV
// pre-computed into the collection's chunk store.
#include <cstdio>

#include "cli/collection_flag.h"
#include "cli/commands.h"
#include "cli/redis_flags.h"
#include "cli/progress_bar.h"
#include "engine/rag_prompt.h"
#include "rag/collection.h"
#include "server/ingest_hooks.h"

namespace kvfuse::cli {

namespace {

// Every chunk of the collection into the shared tier, not only the ones this run computed:
// a chunk already in RAM or on disk is queued unless Redis holds it (which also heals writes
// dropped while the chunks were computed). Waits for the writes.
void PublishToRedis(const rag::Collection& collection, const rag::IngestHooks& hooks, store::ChunkStore& chunks,
                    store::RedisTier& redis, rag::IngestReport& report) {
  chunks.SetPublishHits(true);
  const uint64_t dropped_before = redis.stats().writes_dropped;
  for (const rag::CollectionFile& f : collection.files())
    for (int32_t id : f.chunk_ids) {
      if (redis.queued_bytes() > redis.max_queued_bytes() / 2) redis.Flush(60'000);  // never overflow the queue
      if (const util::Status st = hooks.warm(*collection.chunk(id)); !st.ok())
        report.errors.push_back("chunk " + std::to_string(id) + " of " + f.path + ": " + st.message());
    }
  const bool flushed = redis.Flush(120'000);
  const store::RemoteStats s = redis.stats();
  std::printf("redis %s: %llu chunks written (%.1f MB, %.0f bytes per token, %s KV)\n", redis.endpoint().Name().c_str(),
              static_cast<unsigned long long>(s.writes), s.bytes_written / 1e6,
              s.tokens_written ? static_cast<double>(s.bytes_written) / s.tokens_written : 0.0,
              store::RemoteFormatName(redis.format()));
  if (!flushed || !s.up || s.write_errors > 0 || s.writes_dropped > dropped_before)
    report.errors.push_back("redis " + redis.endpoint().Name() + ": not every chunk was written" +
                            (s.up ? "" : " (redis is down)"));
}

}  // namespace

int IngestCommand(int argc, char** argv) {
  std::set<std::string> value_options = {"-m", "--collection", "-c", "-t", "--chunk-tokens", "--overlap",
                                         "--min-tokens", "--embed-layer", "--max-file-mb"};
  value_options.merge(RedisFlags());
  auto args = Args::Parse(argc, argv, value_options, {"--no-warm"});
  if (!args.ok()) return Fail(args.status().message());
  auto collection_dir = CollectionDir(args.value(), /*takes_context=*/false);  // refuses the old "-c DIR"
  if (!collection_dir.ok()) return Fail(collection_dir.status().message());
  const std::string dir = collection_dir.value();
  if (args->positional().empty()) return Fail("nothing to ingest: give files or directories");
  rag::ChunkOptions chunking;
  auto max_tokens = args->GetInt("--chunk-tokens", chunking.max_tokens);
  auto overlap = args->GetInt("--overlap", chunking.overlap_tokens);
  auto min_tokens = args->GetInt("--min-tokens", chunking.min_tokens);
  for (const util::Status* st : {&max_tokens.status(), &overlap.status(), &min_tokens.status()})
    if (!st->ok()) return Fail(st->message());
  if (max_tokens.value() > 4096) return Fail("--chunk-tokens must be at most 4096");
  chunking = {static_cast<int32_t>(max_tokens.value()), static_cast<int32_t>(overlap.value()),
              static_cast<int32_t>(min_tokens.value())};
  if (const util::Status st = rag::ValidateChunkOptions(chunking); !st.ok()) return Fail(st.message());
  rag::ReadOptions reading;
  auto max_file_mb = args->GetInt("--max-file-mb", static_cast<long long>(reading.max_file_bytes >> 20));
  if (!max_file_mb.ok()) return Fail(max_file_mb.status().message());
  if (max_file_mb.value() < 1 || max_file_mb.value() > (1 << 20)) return Fail("--max-file-mb must be 1..1048576");
  reading.max_file_bytes = static_cast<uint64_t>(max_file_mb.value()) << 20;

  // A damaged or outdated collection.json is rebuilt from the files given here (Open logs it).
  auto collection = rag::Collection::Open(dir, rag::OpenOptions{.rebuild_damaged = true});
  if (!collection.ok()) return Fail(collection.status().message());
  Args engine_args = args.value();
  engine_args.Set("--store", collection->kv_dir());
  engine_args.Set("-c", std::to_string(2 * chunking.max_tokens + 64));  // room for one chunk and its prefix
  auto engine = LoadEngine(engine_args, 0);
  if (!engine.ok()) return Fail(engine.status().message());
  engine::Engine& e = *engine.value();
  if (!e.tokenizer()) return Fail("cannot tokenize: " + e.tokenizer_error());
  ProgressBar progress;
  // Layer 0 (the mean of the input embeddings) by default: a model not trained to embed keeps
  // the most lexical signal there (the first demo model's layer-0 vectors alone reached
  // recall@6 0.75 on the demo world, its last layer's 0.05).
  auto embed_layer = args->GetInt("--embed-layer", 0);
  if (!embed_layer.ok()) return Fail(embed_layer.status().message());
  if (embed_layer.value() < 0 || embed_layer.value() > e.hparams().n_layers)
    return Fail(util::StrFormat("--embed-layer must be 0..%d", e.hparams().n_layers));
  rag::IngestHooks hooks = server::EngineIngestHooks(e, static_cast<int32_t>(embed_layer.value()), !args->Has("--no-warm"),
                                                     [](const std::function<void()>& fn) { fn(); });
  hooks.progress = [&](std::string_view stage, size_t done, size_t total) { progress.Update(stage, done, total); };

  if (args->Has("--redis") && args->Has("--no-warm")) return Fail("--redis publishes chunk KV: it cannot go with --no-warm");
  rag::IngestReport r = collection->Ingest(args->positional(), chunking, hooks, reading);
  if (store::RedisTier* redis = e.chunk_store().remote())
    PublishToRedis(collection.value(), hooks, e.chunk_store(), *redis, r);
  for (const std::string& err : r.errors) std::fprintf(stderr, "error: %s\n", err.c_str());
  const bool changed = r.files_new + r.files_changed > 0 || r.chunks_embedded > 0;
  if (changed)
    if (const util::Status st = collection->Save(); !st.ok()) return Fail(st.message());
  std::printf("%s: %zu new, %zu changed, %zu unchanged, %zu failed files; %zu chunks added, %zu removed, "
              "%zu embedded, %zu KV pre-computed; %zu chunks in the collection\n",
              dir.c_str(), r.files_new, r.files_changed, r.files_unchanged, r.files_failed, r.chunks_added,
              r.chunks_removed, r.chunks_embedded, r.chunks_warmed, collection->n_chunks());
  return r.errors.empty() ? 0 : 1;
}

}  // namespace kvfuse::cli
