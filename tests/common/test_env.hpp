// Where tests find the reference data and the build's plugins.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include <unistd.h>


namespace bitnet::testing {

// BITNET_ORACLE_DIR (environment) beats the CMake cache value. nullopt when the folder is absent,
// in which case tests GTEST_SKIP() with a printed reason (CI always has it).
inline std::optional<std::filesystem::path> oracle_dir() {
    std::filesystem::path p = BITNET_ORACLE_DIR_DEFAULT;
    if (const char* env = std::getenv("BITNET_ORACLE_DIR"); env != nullptr && *env != '\0') p = env;
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) return p;
    return std::nullopt;
}

// The build's plugin folder; BITNET_TEST_PLUGIN_DIR (environment) overrides it for test binaries
// run away from their build tree (tools/gpu-stage.sh copies them to a GPU machine).
inline std::filesystem::path build_plugin_dir() {
    if (const char* env = std::getenv("BITNET_TEST_PLUGIN_DIR"); env != nullptr && *env != '\0') return env;
    return BITNET_BUILD_PLUGIN_DIR;
}

// A fresh empty directory under the system temp dir, removed by the caller if it wishes.
inline std::filesystem::path make_temp_dir(const std::string& tag) {
    auto base = std::filesystem::temp_directory_path() /
                ("bitnet-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    std::filesystem::create_directories(base);
    return base;
}

} // namespace bitnet::testing
