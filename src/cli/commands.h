// The kvfuse product subcommands (the benchmark and evaluation ones are in
// cli/bench/bench_commands.h). Each takes the arguments after its name and returns the
// process exit code; errors are printed to stderr.
#pragma once

#include <string>

namespace kvfuse::cli {

int RunCommand(int argc, char** argv);
int InspectCommand(int argc, char** argv);
int TokenizeCommand(int argc, char** argv);
int ConvertTokenizerCommand(int argc, char** argv);
int IngestCommand(int argc, char** argv);
int AskCommand(int argc, char** argv);
int ServeCommand(int argc, char** argv);

// Prints "error: message" and returns 1.
int Fail(const std::string& message);

}  // namespace kvfuse::cli

#include <memory>

#include "cli/args.h"
#include "engine/engine.h"

namespace kvfuse::cli {

// Loads the engine from "-m" with "-t" threads and "-c" context slots (default_ctx when not
// given); a load error keeps the loader's message, which names the file and the reason.
util::Result<std::unique_ptr<engine::Engine>> LoadEngine(const Args& args, int default_ctx);

}  // namespace kvfuse::cli
