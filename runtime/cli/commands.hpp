// Subcommand entry points. Each takes argv with argv[0] = the subcommand name and returns the
// process exit code; errors are reported on stderr by main().
#pragma once

namespace bitnet::cli {

int cmd_plugins(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_tune(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_gen_model(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);

} // namespace bitnet::cli
