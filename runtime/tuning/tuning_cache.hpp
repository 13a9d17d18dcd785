// The tuning cache on disk: one JSON file per machine (CPU model + feature flags + plugin ABI +
// thread count), holding one entry per signature keyed by the signature and the identity (name,
// version, build id, ABI) of every plugin that offered a kernel for it. A changed plugin changes the
// keys of exactly the signatures it serves, so only those are re-tuned. Corrupt or stale files are
// ignored with a warning and rewritten.
#pragma once

#include "tuning/results.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace bitnet::tuning {

class TuningCache {
public:
    // Reads `dir`/tune-<machine hash>.json when present. Never throws.
    TuningCache(const std::filesystem::path& dir, std::string machine_key);

    // The stored result for `key` (candidates, winner, margin; shape fields are the caller's).
    std::optional<SignatureResult> find(const std::string& key) const;
    void put(const std::string& key, const SignatureResult& r);
    // Writes the file atomically (temp file + rename), creating the folder. Failure is a warning.
    void save() const;

    const std::filesystem::path& file() const { return file_; }
    // "absent", "loaded N entries", or "ignored: <why>".
    const std::string& status() const { return status_; }

private:
    std::filesystem::path file_;
    std::string machine_key_;
    std::string status_;
    std::map<std::string, SignatureResult> entries_;
};

// The folder the cache lives in: `configured` when not empty, else user_cache_dir()/tuning.
std::filesystem::path cache_dir(const std::string& configured);

} // namespace bitnet::tuning
