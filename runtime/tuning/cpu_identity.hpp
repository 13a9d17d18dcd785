// The machine half of the tuning cache key: a timing measured on one CPU says nothing about another.
#pragma once

#include <string>

namespace bitnet::tuning {

struct CpuIdentity {
    std::string model;       // /proc/cpuinfo "model name" (or "unknown")
    std::string flags_hash;  // 16 hex digits over the feature flags, so a changed ISA re-tunes
    int logical_cpus = 0;
};

// Reads /proc/cpuinfo once; never throws (an unreadable file gives model "unknown").
const CpuIdentity& cpu_identity();

// 16 hex digits of FNV-1a over `text` (stable across runs and builds; not cryptographic).
std::string hash_hex(const std::string& text);

} // namespace bitnet::tuning
