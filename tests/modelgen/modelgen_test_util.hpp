// Shared helpers for the generator tests: generate into a per-test temp folder.
#pragma once

#include "modelgen/modelgen.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace bitnet::modelgen::testutil {

class TempDir {
public:
    explicit TempDir(const std::string& tag) : path_(bitnet::testing::make_temp_dir(tag)) {}
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

inline std::vector<char> read_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline ModelSpec tiny() { return shape_preset("tiny"); }

} // namespace bitnet::modelgen::testutil
