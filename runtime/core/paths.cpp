#include "core/paths.hpp"

#include <cstdlib>

namespace bitnet {

std::filesystem::path executable_path() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path{} : p;
}

std::filesystem::path user_cache_dir() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/')
        return std::filesystem::path(x) / "bitnet-runtime";
    if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/')
        return std::filesystem::path(h) / ".cache" / "bitnet-runtime";
    return std::filesystem::temp_directory_path() / "bitnet-runtime-cache";
}

} // namespace bitnet
