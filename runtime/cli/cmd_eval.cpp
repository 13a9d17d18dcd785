// `bitnet eval -m FILE --ids 1,2,3 [--top-k K] [--vocab-ids LIST|FILE] [--json]`: teacher-forced
// logits at every position, the way the model is checked against other engines. The JSON form
// {"positions":[{"pos","argmax","logsumexp","top_k":[[id,logit]..],"logits":[[id,logit]..]}]} is
// a contract other tools read.
#include "cli/commands.hpp"
#include "cli/id_list.hpp"
#include "cli/model_env.hpp"
#include "model/logits.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>

namespace bitnet::cli {

int cmd_eval(int argc, char** argv) {
    CommonOptions common;
    ModelOptions mopts;
    std::string ids_text, vocab_text;
    int top_k = 10;
    po::options_description desc("bitnet eval options");
    add_common_options(desc, common);
    add_model_options(desc, mopts);
    desc.add_options()
        ("ids", po::value(&ids_text)->required(), "input token ids, e.g. 128000,791,6864 (or a file of ids)")
        ("top-k", po::value(&top_k), "how many top logits to print per position (default 10)")
        ("vocab-ids", po::value(&vocab_text), "vocabulary ids whose logits to print at every position (list or file)")
        ("json", "machine-readable output");
    po::variables_map vm;
    if (!parse_args(argc, argv, desc, vm, "bitnet eval -m FILE --ids 1,2,3 [--top-k K] [--vocab-ids LIST] [--json]")) return 0;
    const auto ids = parse_id_list(ids_text);
    if (ids.empty()) throw po::error("--ids is empty");
    const auto probe = vocab_text.empty() ? std::vector<int32_t>{} : parse_id_list(vocab_text);
    auto env = make_model_env(common, mopts);
    const int32_t n_vocab = env->model->hparams().n_vocab;
    for (int32_t id : probe)
        if (id >= n_vocab) throw po::error(fmt::format("--vocab-ids: {} is outside the vocabulary [0, {})", id, n_vocab));
    top_k = std::clamp(top_k, 0, n_vocab);

    std::vector<float> logits;
    env->session->decode(ids, true, logits);

    nlohmann::json positions = nlohmann::json::array();
    std::vector<int32_t> order(n_vocab);
    for (size_t p = 0; p < ids.size(); ++p) {
        const float* row = logits.data() + p * n_vocab;
        std::iota(order.begin(), order.end(), 0);
        // Ties go to the lower id, as in the reference files.
        std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int32_t a, int32_t b) {
            return row[a] > row[b] || (row[a] == row[b] && a < b);
        });
        const int32_t argmax = model::argmax(row, n_vocab);
        nlohmann::json top = nlohmann::json::array(), probes = nlohmann::json::array();
        for (int i = 0; i < top_k; ++i) top.push_back({order[i], row[order[i]]});
        for (int32_t id : probe) probes.push_back({id, row[id]});
        positions.push_back({{"pos", p}, {"argmax", argmax}, {"logsumexp", model::log_sum_exp(row, n_vocab)},
                             {"top_k", top}, {"logits", probes}});
    }
    if (vm.count("json")) {
        std::cout << nlohmann::json{{"positions", positions}}.dump() << "\n";
        return 0;
    }
    const auto& tok = env->model->tokenizer();
    for (const auto& p : positions) {
        const int32_t am = p["argmax"];
        std::cout << fmt::format("pos {:4}  token {:7}  argmax {:7} {:<16}  lse {:.5f}  top:", p["pos"].get<int>(),
                                 ids[p["pos"].get<size_t>()], am,
                                 nlohmann::json(tok.token_bytes(am, true)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                 p["logsumexp"].get<double>());
        for (const auto& t : p["top_k"]) std::cout << fmt::format(" {}:{:.4f}", t[0].get<int>(), t[1].get<double>());
        std::cout << "\n";
    }
    return 0;
}

} // namespace bitnet::cli
