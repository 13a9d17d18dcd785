// `bitnet perplexity -m FILE -f TEXT [--chunk N] [--json]`: mean negative log-likelihood and
// perplexity of a text, evaluated teacher-forced in independent chunks (each starting with BOS
// when the model adds one), every token after the first of a chunk scored.
#include "cli/commands.hpp"
#include "cli/model_env.hpp"
#include "model/logits.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

namespace bitnet::cli {

int cmd_perplexity(int argc, char** argv) {
    CommonOptions common;
    ModelOptions mopts;
    std::string file;
    int chunk = 512;
    po::options_description desc("bitnet perplexity options");
    add_common_options(desc, common);
    add_model_options(desc, mopts);
    desc.add_options()
        ("file,f", po::value(&file)->required(), "UTF-8 text file")
        ("chunk", po::value(&chunk), "tokens per independent chunk (default 512)")
        ("json", "print {\"tokens\":N,\"mean_nll\":X,\"perplexity\":X,\"chunks\":N}");
    po::variables_map vm;
    if (!parse_args(argc, argv, desc, vm, "bitnet perplexity -m FILE -f TEXT [--chunk N] [--json]")) return 0;
    if (chunk < 2) throw po::error("--chunk must be at least 2");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    if (mopts.ctx < 0) mopts.ctx = chunk;
    auto env = make_model_env(common, mopts);
    auto& session = *env->session;
    chunk = std::min(chunk, session.n_ctx());
    const auto& tok = env->model->tokenizer();
    const auto ids = tok.encode(ss.str(), false, false);
    const bool bos = tok.add_bos() && tok.bos().has_value();
    const int32_t V = env->model->hparams().n_vocab;
    const size_t body = size_t(chunk) - (bos ? 1 : 0);
    if (ids.size() < 2) throw std::runtime_error(fmt::format("{}: too little text to score ({} tokens)", file, ids.size()));

    double nll = 0;
    size_t scored = 0, chunks = 0;
    std::vector<float> logits;
    std::vector<int32_t> seq;
    for (size_t start = 0; start + 1 < ids.size(); start += body) {
        seq.clear();
        if (bos) seq.push_back(*tok.bos());
        const size_t end = std::min(ids.size(), start + body);
        seq.insert(seq.end(), ids.begin() + start, ids.begin() + end);
        session.reset();
        session.decode(seq, true, logits);
        // Position i predicts seq[i+1]; with BOS the first text token is predicted from BOS alone.
        for (size_t i = 0; i + 1 < seq.size(); ++i) {
            const float* row = logits.data() + i * V;
            nll += model::log_sum_exp(row, V) - double(row[seq[i + 1]]);
            ++scored;
        }
        ++chunks;
    }
    const double mean = nll / double(scored);
    if (vm.count("json")) {
        std::cout << nlohmann::json{{"tokens", scored}, {"mean_nll", mean}, {"perplexity", std::exp(mean)}, {"chunks", chunks}}.dump()
                  << "\n";
    } else {
        std::cout << fmt::format("{} tokens in {} chunk(s) of <= {}: mean NLL {:.4f}, perplexity {:.3f}\n", scored, chunks,
                                 chunk, mean, std::exp(mean));
    }
    return 0;
}

} // namespace bitnet::cli
