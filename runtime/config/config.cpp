#include "config/config.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

namespace bitnet {

namespace {

// Walks one mapping, dispatching each key to its handler and rejecting the others, so that a typo
// ("temprature") is an error at its line instead of a silently ignored setting.
class Walker {
public:
    explicit Walker(std::string name) : name_(std::move(name)) {}

    [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& what) const {
        const auto mark = at.Mark();
        const std::string line = mark.line >= 0 ? fmt::format("{}", mark.line + 1) : "?";
        throw ConfigError(fmt::format("{}:{}: key '{}': {}", name_, line, key, what));
    }

    using Handler = std::function<void(const YAML::Node& value, const std::string& key)>;
    void mapping(const YAML::Node& node, const std::string& prefix,
                 const std::vector<std::pair<std::string, Handler>>& handlers) const {
        if (node.IsNull()) return;
        if (!node.IsMap()) fail(node, prefix.empty() ? "<document>" : prefix, "expected a mapping");
        for (const auto& kv : node) {
            const std::string k = kv.first.Scalar();
            const std::string full = prefix.empty() ? k : prefix + "." + k;
            bool found = false;
            for (const auto& [name, h] : handlers) {
                if (name == k) {
                    h(kv.second, full);
                    found = true;
                    break;
                }
            }
            if (!found) {
                std::string known;
                for (const auto& [name, h] : handlers) known += (known.empty() ? "" : ", ") + name;
                fail(kv.first, full, fmt::format("unknown key (expected one of: {})", known));
            }
        }
    }

    template <class T>
    T scalar(const YAML::Node& v, const std::string& key, const char* type_name) const {
        if (!v.IsScalar()) fail(v, key, fmt::format("expected {}, found a {}", type_name, v.IsMap() ? "mapping" : v.IsSequence() ? "sequence" : "null"));
        try {
            return v.as<T>();
        } catch (const YAML::Exception&) {
            fail(v, key, fmt::format("expected {}, got '{}'", type_name, v.Scalar()));
        }
    }

    int64_t integer(const YAML::Node& v, const std::string& key, int64_t lo, int64_t hi) const {
        const auto x = scalar<int64_t>(v, key, "an integer");
        if (x < lo || x > hi) fail(v, key, fmt::format("expected an integer in [{}, {}], got {}", lo, hi, x));
        return x;
    }
    float real(const YAML::Node& v, const std::string& key, double lo, double hi) const {
        const auto x = scalar<double>(v, key, "a number");
        if (!(x >= lo && x <= hi)) fail(v, key, fmt::format("expected a number in [{}, {}], got {}", lo, hi, x));
        return static_cast<float>(x);
    }
    std::string string(const YAML::Node& v, const std::string& key) const {
        return scalar<std::string>(v, key, "a string");
    }
    bool boolean(const YAML::Node& v, const std::string& key) const { return scalar<bool>(v, key, "true or false"); }
    std::vector<std::string> strings(const YAML::Node& v, const std::string& key) const {
        if (v.IsNull()) return {};
        if (!v.IsSequence()) fail(v, key, "expected a list of strings");
        std::vector<std::string> out;
        for (const auto& item : v) out.push_back(string(item, key));
        return out;
    }

private:
    std::string name_;
};

} // namespace

Config parse_config(const std::string& text, const std::string& name) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        throw ConfigError(fmt::format("{}:{}: YAML syntax error: {}", name, e.mark.line + 1, e.msg));
    }
    Config c;
    Walker w(name);
    constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
    w.mapping(root, "", {
        {"plugins", [&](const YAML::Node& v, const std::string& k) {
            w.mapping(v, k, {
                {"search_paths", [&](const YAML::Node& x, const std::string& kk) { c.plugin_search_paths = w.strings(x, kk); }},
                {"disable", [&](const YAML::Node& x, const std::string& kk) { c.plugin_disable = w.strings(x, kk); }},
            });
        }},
        {"threads", [&](const YAML::Node& v, const std::string& k) { c.threads = int32_t(w.integer(v, k, 0, 1024)); }},
        {"model", [&](const YAML::Node& v, const std::string& k) { c.model = v.IsNull() ? "" : w.string(v, k); }},
        {"use_mmap", [&](const YAML::Node& v, const std::string& k) { c.use_mmap = w.boolean(v, k); }},
        {"mmap_huge_pages", [&](const YAML::Node& v, const std::string& k) { c.mmap_huge_pages = w.boolean(v, k); }},
        {"context_length", [&](const YAML::Node& v, const std::string& k) { c.context_length = int32_t(w.integer(v, k, 0, 1 << 20)); }},
        {"memory_budget_mb", [&](const YAML::Node& v, const std::string& k) { c.memory_budget_mb = w.integer(v, k, 0, int64_t(1) << 30); }},
        {"batch_size", [&](const YAML::Node& v, const std::string& k) { c.batch_size = int32_t(w.integer(v, k, 1, 65536)); }},
        {"device", [&](const YAML::Node& v, const std::string& k) {
            c.device = w.string(v, k);
            if (c.device.empty()) w.fail(v, k, "expected auto, cpu or a GPU plugin's name, got an empty string");
        }},
        {"sampling", [&](const YAML::Node& v, const std::string& k) {
            auto& s = c.sampling;
            w.mapping(v, k, {
                {"temperature", [&](const YAML::Node& x, const std::string& kk) { s.temperature = w.real(x, kk, 0.0, 100.0); }},
                {"top_k", [&](const YAML::Node& x, const std::string& kk) { s.top_k = int32_t(w.integer(x, kk, 0, kMaxInt)); }},
                {"top_p", [&](const YAML::Node& x, const std::string& kk) { s.top_p = w.real(x, kk, 0.0, 1.0); }},
                {"min_p", [&](const YAML::Node& x, const std::string& kk) { s.min_p = w.real(x, kk, 0.0, 1.0); }},
                {"repeat_penalty", [&](const YAML::Node& x, const std::string& kk) { s.repeat_penalty = w.real(x, kk, 0.0, 10.0); }},
                {"repeat_last_n", [&](const YAML::Node& x, const std::string& kk) { s.repeat_last_n = int32_t(w.integer(x, kk, 0, kMaxInt)); }},
                {"seed", [&](const YAML::Node& x, const std::string& kk) { s.seed = w.integer(x, kk, -1, std::numeric_limits<int64_t>::max()); }},
            });
        }},
        {"autotune", [&](const YAML::Node& v, const std::string& k) {
            auto& a = c.autotune;
            w.mapping(v, k, {
                {"mode", [&](const YAML::Node& x, const std::string& kk) {
                    a.mode = w.string(x, kk);
                    if (a.mode != "full" && a.mode != "cache" && a.mode != "off")
                        w.fail(x, kk, fmt::format("expected one of full, cache, off, got '{}'", a.mode));
                }},
                {"cache_dir", [&](const YAML::Node& x, const std::string& kk) { a.cache_dir = x.IsNull() ? "" : w.string(x, kk); }},
                {"budget_ms", [&](const YAML::Node& x, const std::string& kk) { a.budget_ms = int32_t(w.integer(x, kk, 0, 3600000)); }},
                {"adapt", [&](const YAML::Node& x, const std::string& kk) { a.adapt = w.boolean(x, kk); }},
                {"pin", [&](const YAML::Node& x, const std::string& kk) {
                    if (x.IsNull()) return;
                    if (!x.IsMap()) w.fail(x, kk, "expected a mapping of op family to plugin name");
                    for (const auto& p : x) a.pin[p.first.Scalar()] = w.string(p.second, kk + "." + p.first.Scalar());
                }},
            });
        }},
    });
    return c;
}

Config load_config(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(fmt::format("{}: cannot open config file", path.string()));
    std::stringstream ss;
    ss << in.rdbuf();
    Config c = parse_config(ss.str(), path.string());
    c.source = path;
    for (auto& p : c.plugin_search_paths) {
        std::filesystem::path sp(p);
        if (sp.is_relative()) p = (path.parent_path() / sp).lexically_normal().string();
    }
    return c;
}

} // namespace bitnet
