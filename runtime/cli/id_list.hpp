// Parsing of token-id lists given on the command line ("1,2,3") or in a file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bitnet::cli {

// "1,2, 3" or "1 2 3" -> ids. When `text` names an existing file, its contents are parsed the
// same way (a JSON array's brackets are accepted). Throws std::invalid_argument naming the bad item.
std::vector<int32_t> parse_id_list(const std::string& text);

} // namespace bitnet::cli
