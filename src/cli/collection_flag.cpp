#include "cli/collection_flag.h"

#include <filesystem>
#include <system_error>

namespace kvfuse::cli {

namespace {

// The manifest every collection directory holds (the layout of rag/collection.h).
constexpr char kManifest[] = "collection.json";

}  // namespace

util::Result<std::string> CollectionDir(const Args& args, bool takes_context) {
  if (args.Has("-c") && (!takes_context || !args.GetInt("-c", 0).ok()))
    return util::Status::InvalidArgument(
        "-c is the context size (as in llama.cpp), " +
        std::string(takes_context ? "a number, not '" + args.Get("-c") + "'" : "not taken by this command") +
        ": name the collection with --collection DIR");
  const std::string dir = args.Get("--collection");
  if (dir.empty()) return util::Status::InvalidArgument("a collection directory is required (--collection DIR)");
  return dir;
}

util::Status CheckIngested(const std::string& dir) {
  const std::string ingest = "; make it with kvfuse ingest -m MODEL.gguf --collection " + dir + " FILES...";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return util::Status::NotFound("no collection at " + dir + " (" +
                                  (ec ? ec.message() : std::string("not a directory")) + ")" + ingest);
  if (!std::filesystem::exists(std::filesystem::path(dir) / kManifest, ec))
    return util::Status::NotFound("no collection at " + dir + " (it holds no " + kManifest + ")" + ingest);
  return util::Status::Ok();
}

}  // namespace kvfuse::cli
