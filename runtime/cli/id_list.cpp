#include "cli/id_list.hpp"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bitnet::cli {

std::vector<int32_t> parse_id_list(const std::string& text) {
    std::string body = text;
    std::error_code ec;
    if (!text.empty() && std::filesystem::is_regular_file(text, ec)) {
        std::ifstream in(text);
        std::stringstream ss;
        ss << in.rdbuf();
        body = ss.str();
    }
    std::vector<int32_t> ids;
    size_t i = 0;
    auto is_sep = [](char c) { return c == ',' || c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '[' || c == ']'; };
    while (i < body.size()) {
        while (i < body.size() && is_sep(body[i])) ++i;
        if (i >= body.size()) break;
        size_t j = i;
        while (j < body.size() && !is_sep(body[j])) ++j;
        int32_t v = 0;
        auto [p, err] = std::from_chars(body.data() + i, body.data() + j, v);
        if (err != std::errc() || p != body.data() + j || v < 0)
            throw std::invalid_argument(fmt::format("bad token id '{}'", body.substr(i, j - i)));
        ids.push_back(v);
        i = j;
    }
    return ids;
}

} // namespace bitnet::cli
