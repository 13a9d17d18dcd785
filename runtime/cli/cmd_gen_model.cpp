// `bitnet gen-model`: write a random ternary model of a named (or explicit) shape.
#include "cli/commands.hpp"
#include "cli/common_options.hpp"
#include "modelgen/modelgen.hpp"

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <optional>

namespace bitnet::cli {

int cmd_gen_model(int argc, char** argv) {
    CommonOptions common;
    std::string shape = "tiny", weights = "i2_s", head = "f16", arch = "bitnet-b1.58", out, tok, name;
    uint64_t seed = 42;
    po::options_description desc("bitnet gen-model options");
    add_common_options(desc, common);
    desc.add_options()
        ("shape", po::value(&shape)->default_value(shape), "tiny | small | 2b-4t | 3b | 7b | 13b")
        ("weights", po::value(&weights)->default_value(weights), "linear weights: i2_s | tq1_0 | tq2_0")
        ("head", po::value(&head)->default_value(head), "tied token_embd / lm_head: f16 | q8_0 | q6_k")
        ("arch", po::value(&arch)->default_value(arch), "bitnet-b1.58 (Microsoft layout) | bitnet (llama.cpp)")
        ("out,o", po::value(&out)->required(), "output GGUF file")
        ("tokenizer", po::value(&tok), "tokenizer.json whose vocabulary to embed (default: built-in)")
        ("seed", po::value(&seed)->default_value(seed), "RNG seed (same seed, same bytes)")
        ("name", po::value(&name), "general.name")
        ("hidden", po::value<int64_t>(), "override the shape's hidden size")
        ("ffn", po::value<int64_t>(), "override the FFN size")
        ("layers", po::value<int64_t>(), "override the layer count")
        ("heads", po::value<int64_t>(), "override the attention head count")
        ("kv-heads", po::value<int64_t>(), "override the KV head count")
        ("vocab", po::value<int64_t>(), "vocabulary rows (pads the vocabulary with unused tokens; 0 = its own size)")
        ("ctx", po::value<int64_t>(), "override the context length");
    po::variables_map vm;
    if (!parse_args(argc, argv, desc, vm,
                    "bitnet gen-model --shape S --weights i2_s|tq1_0|tq2_0 --head f16|q8_0|q6_k --out FILE "
                    "[--tokenizer tokenizer.json] [--seed N] [--arch A] [--hidden N ...]"))
        return 0;

    modelgen::ModelSpec spec = modelgen::shape_preset(shape);
    auto override_dim = [&](const char* key, int64_t& field) {
        if (vm.count(key)) field = vm[key].as<int64_t>();
    };
    override_dim("hidden", spec.hidden);
    override_dim("ffn", spec.ffn);
    override_dim("layers", spec.layers);
    override_dim("heads", spec.heads);
    override_dim("kv-heads", spec.kv_heads);
    override_dim("vocab", spec.vocab);
    override_dim("ctx", spec.ctx);

    modelgen::GenOptions opts;
    opts.arch = modelgen::parse_arch(arch);
    opts.weights = modelgen::parse_weight_type(weights);
    opts.head = modelgen::parse_head_type(head);
    opts.seed = seed;
    opts.tokenizer_json = tok;
    opts.model_name = name;
    opts.threads = effective_config(common).threads;

    const auto t0 = std::chrono::steady_clock::now();
    const modelgen::GenSummary s = modelgen::generate_model(spec, opts, out);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << fmt::format("{}: shape {} ({}x{}, {} layers, {}/{} heads, vocab {}), {} {} + {} head, "
                             "{:.3f} B params, {:.1f} MB, {:.2f} s\n",
                             out, spec.name, spec.hidden, spec.ffn, spec.layers, spec.heads, spec.kv_heads,
                             s.n_vocab, modelgen::arch_name(opts.arch), weights, head,
                             static_cast<double>(s.n_params) / 1e9, static_cast<double>(s.file_bytes) / 1e6, secs);
    return 0;
}

} // namespace bitnet::cli
