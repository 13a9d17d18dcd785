#include "tuning/cpu_identity.hpp"

#include <fmt/format.h>

#include <fstream>
#include <thread>

namespace bitnet::tuning {

std::string hash_hex(const std::string& text) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return fmt::format("{:016x}", h);
}

namespace {
CpuIdentity read_identity() {
    CpuIdentity id;
    id.model = "unknown";
    std::string flags;
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = line.substr(0, colon);
        while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
        const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
        // The first processor's entries describe the machine; hybrid CPUs share the flag set.
        if (key == "model name" && id.model == "unknown") id.model = value;
        if ((key == "flags" || key == "Features") && flags.empty()) flags = value;
    }
    id.flags_hash = hash_hex(flags);
    id.logical_cpus = static_cast<int>(std::thread::hardware_concurrency());
    return id;
}
} // namespace

const CpuIdentity& cpu_identity() {
    static const CpuIdentity id = read_identity();
    return id;
}

} // namespace bitnet::tuning
