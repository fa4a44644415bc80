// The kvfuse benchmark and evaluation subcommands. Like those of cli/commands.h, each takes
// the arguments after its name and returns the process exit code.
#pragma once

namespace kvfuse::cli {

int BenchCommand(int argc, char** argv);
int BenchRagCommand(int argc, char** argv);
int BenchServeCommand(int argc, char** argv);
int EvalQaCommand(int argc, char** argv);
int PerplexityCommand(int argc, char** argv);

}  // namespace kvfuse::cli
