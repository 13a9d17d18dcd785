#include "tuning/report.hpp"

#include "formats/formats.hpp"
#include "dispatch/signature.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <stdexcept>

namespace bitnet::tuning {

double gops(const SignatureResult& s, const CandidateResult& c) {
    return c.measured && c.median_us > 0 ? s.ops / (c.median_us * 1e3) : 0.0;
}
double gbps(const SignatureResult& s, const CandidateResult& c) {
    return c.measured && c.median_us > 0 ? s.bytes / (c.median_us * 1e3) : 0.0;
}

namespace {
// Decode matmuls, quantization and decode attention stream memory; prefill work is compute-bound.
bool bandwidth_bound(const SignatureResult& s) { return s.shape.m == 1 || s.shape.op == BITNET_OP_QUANTIZE_ACT; }

std::string status_of(const CandidateResult& c) { return c.rejected ? "rejected" : "ok"; }

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return out + "\"";
}
} // namespace

std::string format_table(const TuneReport& r) {
    std::string out = fmt::format("autotune: mode {}, {} signatures ({} measured, {} from cache, {} static), "
                                  "{} timed runs, {:.0f} ms of {} ms budget{}\ncpu: {}\n",
                                  r.mode, r.stats.signatures, r.stats.measured, r.stats.from_cache, r.stats.static_order,
                                  r.stats.bench_runs, r.stats.elapsed_ms, r.budget_ms,
                                  r.stats.budget_exhausted ? " (EXHAUSTED: the rest use the static order)" : "", r.cpu);
    if (!r.cache_file.empty()) out += fmt::format("cache: {}\n", r.cache_file);
    for (const auto& s : r.signatures) {
        out += fmt::format("\n{}  [{}, {}]\n", s.signature, s.bucket, s.source);
        out += fmt::format("  {:<52} {:>8} {:>12} {:>10} {:>9}  {}\n", "candidate", "status", "median_us", "mad_us",
                           bandwidth_bound(s) ? "GB/s" : "GOP/s", "note");
        for (size_t i = 0; i < s.candidates.size(); ++i) {
            const auto& c = s.candidates[i];
            const std::string label = (int(i) == s.winner ? "* " : "  ") + c.plugin + "/" + c.kernel;
            if (c.measured && !c.rejected)
                out += fmt::format("  {:<52} {:>8} {:>12.1f} {:>10.1f} {:>9.2f}  {}\n", label, "ok", c.median_us, c.mad_us,
                                   bandwidth_bound(s) ? gbps(s, c) : gops(s, c), c.reason);
            else
                out += fmt::format("  {:<52} {:>8} {:>12} {:>10} {:>9}  {}\n", label, status_of(c), "-", "-", "-", c.reason);
        }
        if (s.winner >= 0) {
            const auto& w = s.candidates[s.winner];
            out += fmt::format("  winner: {}/{}", w.plugin, w.kernel);
            if (s.margin > 0 && s.candidates.size() > 1)
                out += fmt::format(", {:.1f}% faster than {}/{}", s.margin * 100, s.candidates[1].plugin,
                                   s.candidates[1].kernel);
            else if (s.margin < 0 && s.candidates.size() > 1)
                out += fmt::format(", preferred over {}/{} ({:.1f}% faster, within the noise)", s.candidates[1].plugin,
                                   s.candidates[1].kernel, -s.margin / (1 + s.margin) * 100);
            out += "\n";
        } else {
            out += "  winner: none (every candidate was rejected)\n";
        }
    }
    return out;
}

std::string format_json(const TuneReport& r) {
    using nlohmann::json;
    json sigs = json::array();
    for (const auto& s : r.signatures) {
        json cands = json::array();
        for (const auto& c : s.candidates)
            cands.push_back({{"plugin", c.plugin}, {"kernel", c.kernel}, {"status", status_of(c)}, {"reason", c.reason},
                             {"median_us", c.median_us}, {"mad_us", c.mad_us}, {"measured", c.measured},
                             {"runs", c.runs}, {"version", c.plugin_version}, {"build_id", c.build_id},
                             {"gops", gops(s, c)}, {"gbps", gbps(s, c)}, {"max_error", c.max_error}});
        json winner = nullptr;
        if (s.winner >= 0) winner = {{"plugin", s.candidates[s.winner].plugin}, {"kernel", s.candidates[s.winner].kernel}};
        sigs.push_back({{"op", std::string(op_name(s.shape.op))},
                        {"weight_format", std::string(formats::weight_format_name(s.shape.weight_format))},
                        {"act_type", std::string(act_type_name(s.shape.act_type))},
                        {"m", s.shape.m}, {"n", s.shape.n}, {"k", s.shape.k},
                        {"n_heads", s.shape.n_heads}, {"n_kv_heads", s.shape.n_kv_heads}, {"head_dim", s.shape.head_dim},
                        {"batch_bucket", s.bucket}, {"device", s.device}, {"signature", s.signature},
                        {"source", s.source}, {"margin", s.margin}, {"candidates", cands}, {"winner", winner}});
    }
    json j = {{"mode", r.mode}, {"budget_ms", r.budget_ms}, {"cpu", r.cpu}, {"cache_file", r.cache_file},
              {"elapsed_ms", r.stats.elapsed_ms}, {"budget_exhausted", r.stats.budget_exhausted},
              {"bench_runs", r.stats.bench_runs}, {"verify_runs", r.stats.verify_runs},
              {"measured", r.stats.measured}, {"from_cache", r.stats.from_cache}, {"static_order", r.stats.static_order},
              {"signatures", sigs}};
    return j.dump(2) + "\n";
}

std::string format_csv(const TuneReport& r) {
    std::string out = "marker,stage,op,weight_format,act_type,m,n,k,batch_bucket,device,plugin,kernel,status,"
                      "median_us,mad_us,runs,gops,gbps,winner,source,reason\n";
    for (const auto& s : r.signatures)
        for (size_t i = 0; i < s.candidates.size(); ++i) {
            const auto& c = s.candidates[i];
            out += fmt::format("bitnet_verbose,tune,{},{},{},{},{},{},{},{},{},{},{},{:.3f},{:.3f},{},{:.3f},{:.3f},{},{},{}\n",
                               op_name(s.shape.op), formats::weight_format_name(s.shape.weight_format),
                               act_type_name(s.shape.act_type), s.shape.m, s.shape.n, s.shape.k, s.bucket, s.device,
                               csv_field(c.plugin), csv_field(c.kernel), status_of(c), c.median_us, c.mad_us, c.runs,
                               gops(s, c), gbps(s, c), int(i) == s.winner ? 1 : 0, csv_field(s.source),
                               csv_field(c.reason));
        }
    return out;
}

void write_reports(const TuneReport& r, const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const std::pair<const char*, std::string> files[] = {
        {"tune.json", format_json(r)}, {"tune.csv", format_csv(r)}, {"tune.html", format_html(r)}};
    for (const auto& [name, text] : files) {
        const auto path = dir / name;
        std::ofstream out(path, std::ios::trunc);
        out << text;
        if (!out) throw std::runtime_error("cannot write " + path.string());
    }
}

} // namespace bitnet::tuning
