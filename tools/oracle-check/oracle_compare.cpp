#include "oracle_compare.hpp"

#include "model/logits.hpp"
#include "model/model.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

namespace bitnet::oracle {

using model::argmax;
using model::log_sum_exp;

Report compare(const std::filesystem::path& ref_json, Router& router, const Bounds& b) {
    std::ifstream in(ref_json);
    if (!in) throw std::runtime_error("cannot open " + ref_json.string());
    const nlohmann::json ref = nlohmann::json::parse(in);
    Report r;
    r.ref_file = ref_json.filename().string();
    const auto model_path = ref_json.parent_path() / ref.at("model_file").at("name").get<std::string>();
    r.model_file = model_path.filename().string();
    auto model = model::Model::load(model_path);
    const int32_t n_vocab = model->hparams().n_vocab;
    model::SessionOptions so;
    so.n_ctx = 1024; // the reference's n_ctx
    so.n_batch = 512;
    model::Session session(*model, router, so);
    const auto probes = ref.at("probe_ids").get<std::vector<int32_t>>();

    std::vector<double> per_position;
    std::vector<float> logits;
    for (const auto& seq : ref.at("sequences")) {
        const auto ids = seq.at("input_ids").get<std::vector<int32_t>>();
        session.reset();
        session.decode(ids, true, logits);
        for (const auto& p : seq.at("positions")) {
            const int pos = p.at("pos");
            const float* row = logits.data() + size_t(pos) * n_vocab;
            double worst = 0;
            const auto& top16 = p.at("top16");
            for (const auto& t : top16) worst = std::max(worst, std::fabs(double(row[t[0].get<int>()]) - t[1].get<double>()));
            const auto& pl = p.at("probe_logits");
            for (size_t i = 0; i < probes.size(); ++i) worst = std::max(worst, std::fabs(double(row[probes[i]]) - pl[i].get<double>()));
            const double dl = std::fabs(log_sum_exp(row, n_vocab) - p.at("lse").get<double>());
            const double gap = top16[0][1].get<double>() - top16[1][1].get<double>();
            const bool top1 = argmax(row, n_vocab) == p.at("argmax").get<int>();
            ++r.positions;
            r.top1_match += top1;
            per_position.push_back(worst);
            if (worst > r.max_abs_logit) {
                r.max_abs_logit = worst;
                r.worst_where = fmt::format("{}/{}", seq.at("name").get<std::string>(), pos);
            }
            r.max_abs_lse = std::max(r.max_abs_lse, dl);
            const std::string where = fmt::format("{} pos {}", seq.at("name").get<std::string>(), pos);
            if (worst > b.max_abs_logit) r.failures.push_back(fmt::format("{}: |Δlogit| {:.4f} > {}", where, worst, b.max_abs_logit));
            if (dl > b.max_abs_lse) r.failures.push_back(fmt::format("{}: |Δlse| {:.4f} > {}", where, dl, b.max_abs_lse));
            if (!top1 && gap >= b.tie_gap) {
                ++r.decisive_mismatches;
                r.failures.push_back(fmt::format("{}: argmax differs although the reference gap is {:.4f}", where, gap));
            }
        }
    }
    if (r.positions > 0 && r.top1_match < b.min_top1_fraction * r.positions)
        r.failures.push_back(fmt::format("top-1 agreement {}/{} is below {:.0f}%", r.top1_match, r.positions, 100 * b.min_top1_fraction));
    std::sort(per_position.begin(), per_position.end());
    if (!per_position.empty()) r.median_abs_logit = per_position[per_position.size() / 2];

    // Greedy continuation: our own argmax fed back one token at a time, compared with the
    // reference up to its first near-tie (where any two faithful engines may part ways).
    const auto& g = ref.at("greedy");
    const auto prompt = g.at("prompt_ids").get<std::vector<int32_t>>();
    session.reset();
    session.decode(prompt, false, logits);
    const auto& steps = g.at("steps");
    r.greedy_steps = int(steps.size());
    for (const auto& st : steps) {
        const auto& top4 = st.at("top4");
        if (top4[0][1].get<double>() - top4[1][1].get<double>() < b.tie_gap) break;
        const int32_t ours = argmax(logits.data(), n_vocab);
        ++r.greedy_compared;
        if (ours != st.at("token").get<int32_t>()) {
            r.greedy_ok = false;
            r.failures.push_back(fmt::format("greedy step {}: chose {}, reference {}", st.at("step").get<int>(), ours,
                                             st.at("token").get<int32_t>()));
            break;
        }
        ++r.greedy_matched;
        const int32_t next = ours;
        session.decode(std::span<const int32_t>(&next, 1), false, logits);
    }
    return r;
}

} // namespace bitnet::oracle
