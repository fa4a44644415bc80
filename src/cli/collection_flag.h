// Collections on the command line. "-c" is the context size in every command, as in
// llama.cpp; a collection is "--collection DIR" (ingest, ask, serve).
#pragma once

#include <string>

#include "cli/args.h"

namespace kvfuse::cli {

// --collection's directory (kInvalidArgument when it is missing). `takes_context`: whether
// the command takes "-c N"; where it does not, or its value is no number, "-c" is refused
// with an error that points to --collection (kInvalidArgument).
util::Result<std::string> CollectionDir(const Args& args, bool takes_context);

// For the commands that read a collection (ask, serve): kNotFound, naming `dir` and saying
// to run `kvfuse ingest`, when `dir` is no directory or holds no collection.json, where
// rag::Collection::Open would open an empty collection.
util::Status CheckIngested(const std::string& dir);

}  // namespace kvfuse::cli
