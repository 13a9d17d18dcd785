#include "tuning/tuning_cache.hpp"

#include "core/log.hpp"
#include "core/paths.hpp"
#include "tuning/cpu_identity.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <unistd.h>

namespace bitnet::tuning {

namespace {
constexpr const char* kFormat = "bitnet-tune-cache/1";
using nlohmann::json;

json to_json(const SignatureResult& r) {
    json cands = json::array();
    for (const auto& c : r.candidates)
        cands.push_back({{"plugin", c.plugin}, {"version", c.plugin_version}, {"build_id", c.build_id},
                         {"kernel", c.kernel}, {"rejected", c.rejected}, {"measured", c.measured},
                         {"reason", c.reason}, {"median_us", c.median_us}, {"mad_us", c.mad_us},
                         {"runs", c.runs}, {"max_error", c.max_error}});
    return {{"signature", r.signature}, {"winner", r.winner}, {"margin", r.margin}, {"candidates", cands}};
}

// Throws json exceptions on any missing field or wrong type: the caller treats the file as corrupt.
SignatureResult from_json(const json& j) {
    SignatureResult r;
    r.signature = j.at("signature").get<std::string>();
    r.winner = j.at("winner").get<int>();
    r.margin = j.at("margin").get<double>();
    for (const auto& c : j.at("candidates")) {
        CandidateResult x;
        x.plugin = c.at("plugin").get<std::string>();
        x.plugin_version = c.at("version").get<std::string>();
        x.build_id = c.at("build_id").get<std::string>();
        x.kernel = c.at("kernel").get<std::string>();
        x.rejected = c.at("rejected").get<bool>();
        x.measured = c.at("measured").get<bool>();
        x.reason = c.at("reason").get<std::string>();
        x.median_us = c.at("median_us").get<double>();
        x.mad_us = c.at("mad_us").get<double>();
        x.runs = c.at("runs").get<int>();
        x.max_error = c.at("max_error").get<double>();
        r.candidates.push_back(std::move(x));
    }
    if (r.winner < -1 || r.winner >= int(r.candidates.size())) throw std::out_of_range("winner index out of range");
    return r;
}
} // namespace

std::filesystem::path cache_dir(const std::string& configured) {
    return configured.empty() ? user_cache_dir() / "tuning" : std::filesystem::path(configured);
}

TuningCache::TuningCache(const std::filesystem::path& dir, std::string machine_key)
    : file_(dir / ("tune-" + hash_hex(machine_key) + ".json")), machine_key_(std::move(machine_key)) {
    std::error_code ec;
    if (!std::filesystem::exists(file_, ec)) {
        status_ = "absent";
        return;
    }
    try {
        std::ifstream in(file_);
        const json j = json::parse(in);
        if (j.at("format").get<std::string>() != kFormat) {
            status_ = "ignored: stale format " + j.at("format").get<std::string>();
        } else if (j.at("machine").get<std::string>() != machine_key_) {
            status_ = "ignored: stale (written for another machine or plugin ABI)";
        } else {
            for (const auto& [k, v] : j.at("entries").items()) entries_[k] = from_json(v);
            status_ = "loaded " + std::to_string(entries_.size()) + " entries";
            return;
        }
    } catch (const std::exception& e) {
        entries_.clear();
        status_ = std::string("ignored: corrupt (") + e.what() + ")";
    }
    logger().warn("tuning cache {} {}; re-tuning", file_.string(), status_);
}

std::optional<SignatureResult> TuningCache::find(const std::string& key) const {
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
}

void TuningCache::put(const std::string& key, const SignatureResult& r) { entries_[key] = r; }

void TuningCache::save() const {
    json entries = json::object();
    for (const auto& [k, v] : entries_) entries[k] = to_json(v);
    const json j = {{"format", kFormat}, {"machine", machine_key_}, {"entries", entries}};
    std::error_code ec;
    std::filesystem::create_directories(file_.parent_path(), ec);
    // Rename is atomic, so a concurrent start never reads a half-written file.
    const auto tmp = file_.string() + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << j.dump(1) << "\n";
        if (!out) {
            logger().warn("cannot write tuning cache {}", tmp);
            std::filesystem::remove(tmp, ec);
            return;
        }
    }
    std::filesystem::rename(tmp, file_, ec);
    if (ec) {
        logger().warn("cannot write tuning cache {}: {}", file_.string(), ec.message());
        std::filesystem::remove(tmp, ec);
    }
}

} // namespace bitnet::tuning
