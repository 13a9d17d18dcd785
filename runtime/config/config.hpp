// Deployment configuration (YAML, yaml-cpp). Every subcommand takes --config FILE; command-line
// flags override what the file says. Unknown keys, wrong types and out-of-range values are errors
// that name the file, the line, the key and what was expected.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitnet {

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct SamplingConfig {
    float temperature = 0.8f;   // 0 = greedy
    int32_t top_k = 40;         // 0 = off
    float top_p = 0.95f;        // 1 = off
    float min_p = 0.05f;        // 0 = off
    float repeat_penalty = 1.0f;// 1 = off
    int32_t repeat_last_n = 64;
    int64_t seed = -1;          // -1 = random
};

struct AutotuneConfig {
    std::string mode = "cache";           // full | cache | off
    std::string cache_dir;                // empty = user cache folder
    int32_t budget_ms = 20000;            // start-up tuning time budget
    std::map<std::string, std::string> pin; // op family -> plugin name
    bool adapt = false;                   // runtime re-routing on sustained slowdown
};

struct Config {
    std::vector<std::string> plugin_search_paths;
    std::vector<std::string> plugin_disable;  // plugin names never loaded
    int32_t threads = 0;                      // 0 = all cores
    std::string model;                        // empty = the embedded default model
    bool use_mmap = true;                     // false: read the weights into (huge-page) memory
    bool mmap_huge_pages = true;              // re-read a mapped file's page cache in 2 MiB pages (gguf::File::adopt_huge_pages)
    int32_t context_length = 0;               // 0 = the model's, capped by memory_budget_mb
    int64_t memory_budget_mb = 0;             // KV cache budget; 0 = a quarter of physical memory
    int32_t batch_size = 512;                 // prompt tokens per forward pass
    std::string device = "auto";              // auto | cpu | a GPU plugin's name ("cuda")
    SamplingConfig sampling;
    AutotuneConfig autotune;
    std::filesystem::path source;             // the file it came from (empty = defaults)
};

// Parses a YAML file. Relative plugin search paths are resolved against the file's folder.
Config load_config(const std::filesystem::path& path);
// Parses YAML text; `name` is used in messages.
Config parse_config(const std::string& yaml_text, const std::string& name);

} // namespace bitnet
