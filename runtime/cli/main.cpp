// `bitnet`: the command-line front end. Every error surfaces here as one clear line on stderr and
// exit code 1 (2 for usage errors); nothing escapes as a crash.
#include "cli/commands.hpp"

#include <boost/program_options/errors.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

namespace {

struct Entry {
    const char* name;
    int (*fn)(int, char**);
    const char* summary;
};

int not_built(int, char** argv) {
    std::fprintf(stderr, "bitnet %s: this build does not include that command\n", argv[0]);
    return 2;
}

#define BITNET_CMD(flag, fn) (flag ? &bitnet::cli::fn : &not_built)
#ifndef BITNET_HAVE_CMD_RUN
#define BITNET_HAVE_CMD_RUN 0
#endif
#ifndef BITNET_HAVE_CMD_BENCH
#define BITNET_HAVE_CMD_BENCH 0
#endif
#ifndef BITNET_HAVE_CMD_TUNE
#define BITNET_HAVE_CMD_TUNE 0
#endif
#ifndef BITNET_HAVE_CMD_INSPECT
#define BITNET_HAVE_CMD_INSPECT 0
#endif
#ifndef BITNET_HAVE_CMD_GEN_MODEL
#define BITNET_HAVE_CMD_GEN_MODEL 0
#endif
#ifndef BITNET_HAVE_CMD_TOKENIZE
#define BITNET_HAVE_CMD_TOKENIZE 0
#endif
#ifndef BITNET_HAVE_CMD_EVAL
#define BITNET_HAVE_CMD_EVAL 0
#endif
#ifndef BITNET_HAVE_CMD_PERPLEXITY
#define BITNET_HAVE_CMD_PERPLEXITY 0
#endif

const Entry kCommands[] = {
    {"run", BITNET_CMD(BITNET_HAVE_CMD_RUN, cmd_run), "generate text (default: the embedded demo model)"},
    {"plugins", &bitnet::cli::cmd_plugins, "list backend plugins found, loaded or refused (and why)"},
    {"inspect", BITNET_CMD(BITNET_HAVE_CMD_INSPECT, cmd_inspect), "print a GGUF file's metadata and tensor table"},
    {"tokenize", BITNET_CMD(BITNET_HAVE_CMD_TOKENIZE, cmd_tokenize), "text -> token ids with a model's tokenizer"},
    {"eval", BITNET_CMD(BITNET_HAVE_CMD_EVAL, cmd_eval), "teacher-forced logits over given token ids (JSON)"},
    {"perplexity", BITNET_CMD(BITNET_HAVE_CMD_PERPLEXITY, cmd_perplexity), "mean NLL and perplexity over a text file"},
    {"gen-model", BITNET_CMD(BITNET_HAVE_CMD_GEN_MODEL, cmd_gen_model), "write a random ternary model of a named shape"},
    {"bench", BITNET_CMD(BITNET_HAVE_CMD_BENCH, cmd_bench), "prompt/generation throughput and roofline fraction"},
    {"tune", BITNET_CMD(BITNET_HAVE_CMD_TUNE, cmd_tune), "verify, benchmark and route kernels; write the report"},
};

void usage(std::FILE* out) {
    std::fprintf(out, "bitnet — BitNet b1.58 inference runtime\n\nusage: bitnet <command> [options]   "
                      "(bitnet <command> --help for each)\n\ncommands:\n");
    for (const auto& c : kCommands) std::fprintf(out, "  %-11s %s\n", c.name, c.summary);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string_view name = argv[1];
    for (const auto& c : kCommands) {
        if (name != c.name) continue;
        try {
            return c.fn(argc - 1, argv + 1);
        } catch (const boost::program_options::error& e) {
            std::fprintf(stderr, "bitnet %s: %s (see bitnet %s --help)\n", c.name, e.what(), c.name);
            return 2;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bitnet %s: error: %s\n", c.name, e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "bitnet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
