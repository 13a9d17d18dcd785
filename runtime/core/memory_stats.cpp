#include "core/memory_stats.hpp"

#include <fstream>
#include <string>
#include <unistd.h>

namespace bitnet {

namespace {
uint64_t read_status_kb(const char* key) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const std::string prefix = std::string(key) + ":";
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) == 0) return std::stoull(line.substr(prefix.size())) * 1024;
    }
    return 0;
}
} // namespace

uint64_t peak_rss_bytes() { return read_status_kb("VmHWM"); }
uint64_t current_rss_bytes() { return read_status_kb("VmRSS"); }

bool reset_peak_rss() {
    std::ofstream out("/proc/self/clear_refs");
    if (!out) return false;
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

uint64_t physical_memory_bytes() {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

} // namespace bitnet
