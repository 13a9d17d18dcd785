// Helpers for the GGUF tests: file bytes in and out, and a map of where each field of a *valid*
// file lives, so a test can corrupt one field precisely.
#pragma once

#include "gguf/gguf.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace bitnet::gguf::test {

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

template <class T> void poke(std::vector<uint8_t>& b, size_t off, T v) { std::memcpy(b.data() + off, &v, sizeof v); }
template <class T> T peek(const std::vector<uint8_t>& b, size_t off) {
    T v;
    std::memcpy(&v, b.data() + off, sizeof v);
    return v;
}

struct Layout {
    struct Kv { size_t key_len, key, type, value, array_count = 0; };
    struct Tensor { size_t name_len, name, n_dims, dims, type, offset; };
    std::vector<Kv> kvs;
    std::vector<Tensor> tensors;
    size_t infos_end = 0;
};

// Walks a file the test itself wrote (so it trusts the bytes).
inline Layout map_layout(const std::vector<uint8_t>& b) {
    Layout l;
    size_t pos = 24;
    auto skip_value = [&](auto&& self, uint32_t type) -> void {
        static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        if (type == 8) pos += 8 + peek<uint64_t>(b, pos);
        else if (type == 9) {
            const uint32_t et = peek<uint32_t>(b, pos);
            const uint64_t n = peek<uint64_t>(b, pos + 4);
            pos += 12;
            for (uint64_t i = 0; i < n; ++i) self(self, et);
        } else pos += sizes[type];
    };
    for (uint64_t i = 0, n = peek<uint64_t>(b, 16); i < n; ++i) {
        Layout::Kv kv{};
        kv.key_len = pos;
        kv.key = pos + 8;
        pos += 8 + peek<uint64_t>(b, pos);
        kv.type = pos;
        const uint32_t t = peek<uint32_t>(b, pos);
        pos += 4;
        kv.value = pos;
        if (t == 9) kv.array_count = pos + 4;
        skip_value(skip_value, t);
        l.kvs.push_back(kv);
    }
    for (uint64_t i = 0, n = peek<uint64_t>(b, 8); i < n; ++i) {
        Layout::Tensor t{};
        t.name_len = pos;
        t.name = pos + 8;
        pos += 8 + peek<uint64_t>(b, pos);
        t.n_dims = pos;
        const uint32_t nd = peek<uint32_t>(b, pos);
        t.dims = pos + 4;
        pos += 4 + 8 * nd;
        t.type = pos;
        t.offset = pos + 4;
        pos += 12;
        l.tensors.push_back(t);
    }
    l.infos_end = pos;
    return l;
}

} // namespace bitnet::gguf::test
