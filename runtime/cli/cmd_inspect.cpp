// `bitnet inspect FILE [--json]`: a GGUF file's metadata and tensor table.
#include "cli/commands.hpp"
#include "cli/common_options.hpp"
#include "gguf/gguf.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <map>

namespace bitnet::cli {
namespace {

using gguf::Value;
using gguf::ValueType;

// Arrays up to this length are printed in full in JSON; longer ones (vocabularies) as a summary.
constexpr size_t kJsonArrayLimit = 64;
constexpr size_t kTextArrayPreview = 4;

nlohmann::json scalar_json(const Value& v) {
    switch (v.type) {
    case ValueType::FLOAT32:
    case ValueType::FLOAT64: return v.as_float();
    case ValueType::BOOL: return v.as_bool();
    case ValueType::STRING: return v.as_string();
    case ValueType::UINT8:
    case ValueType::UINT16:
    case ValueType::UINT32:
    case ValueType::UINT64: return v.as_uint();
    default: return v.as_int();
    }
}

nlohmann::json value_json(const Value& v) {
    if (v.type != ValueType::ARRAY) return scalar_json(v);
    const gguf::Array& a = v.as_array();
    if (a.items.size() > kJsonArrayLimit)
        return {{"type", std::string(gguf::value_type_name(a.elem_type))}, {"count", a.items.size()}};
    nlohmann::json arr = nlohmann::json::array();
    for (const Value& item : a.items) arr.push_back(value_json(item));
    return arr;
}

std::string scalar_text(const Value& v) {
    if (v.type == ValueType::STRING) {
        const std::string& s = v.as_string();
        // Chat templates are long and multi-line; one table row each is enough to recognise them.
        std::string shown = s.size() > 80 ? s.substr(0, 77) + "..." : s;
        return nlohmann::json(shown).dump();
    }
    if (v.type == ValueType::ARRAY) {
        const gguf::Array& a = v.as_array();
        return fmt::format("{}[{}]", gguf::value_type_name(a.elem_type), a.items.size());
    }
    return scalar_json(v).dump();
}

std::string value_text(const Value& v) {
    if (v.type != ValueType::ARRAY) return scalar_text(v);
    const gguf::Array& a = v.as_array();
    std::string s = fmt::format("{}[{}]", gguf::value_type_name(a.elem_type), a.items.size());
    if (a.items.empty()) return s;
    s += " {";
    for (size_t i = 0; i < std::min(a.items.size(), kTextArrayPreview); ++i) s += (i ? ", " : "") + scalar_text(a.items[i]);
    return s + (a.items.size() > kTextArrayPreview ? ", ...}" : "}");
}

std::string dims_text(const std::vector<int64_t>& dims) { return fmt::format("[{}]", fmt::join(dims, ", ")); }

std::string_view type_name(formats::GgmlType t) {
    const formats::TypeInfo* info = formats::type_info(static_cast<uint32_t>(t));
    return info != nullptr ? info->name : "?";
}

} // namespace

int cmd_inspect(int argc, char** argv) {
    CommonOptions common;
    std::string file;
    po::options_description desc("bitnet inspect options");
    add_common_options(desc, common);
    desc.add_options()("file", po::value(&file)->required(), "GGUF file")(
        "json", "print {\"version\",\"metadata\",\"tensors\"} as JSON instead of tables");
    po::positional_options_description pos;
    pos.add("file", 1);
    po::variables_map vm;
    if (!parse_args(argc, argv, desc, vm, "bitnet inspect FILE [--json]", &pos)) return 0;
    (void)effective_config(common);  // a bad --config is still an error here

    const auto f = gguf::File::open(file);
    if (vm.count("json")) {
        nlohmann::json meta = nlohmann::json::object();
        for (const auto& [key, value] : f->metadata()) meta[key] = value_json(value);
        nlohmann::json tensors = nlohmann::json::array();
        for (const gguf::TensorInfo& t : f->tensors())
            tensors.push_back({{"name", t.name}, {"type", std::string(type_name(t.type))}, {"dims", t.dims},
                               {"offset", t.offset}, {"bytes", t.size}});
        // JSON objects do not keep key order, and the order matters (reference files are
        // compared key by key), so it is given separately.
        nlohmann::json order = nlohmann::json::array();
        for (const auto& kv : f->metadata()) order.push_back(kv.first);
        std::cout << nlohmann::json{{"version", f->version()}, {"metadata", meta}, {"metadata_order", order},
                                    {"tensors", tensors}}.dump(1)
                  << "\n";
        return 0;
    }

    std::cout << fmt::format("{}: GGUF v{}, {} bytes, {} keys, {} tensors, alignment {}\n\n", file, f->version(),
                             f->file_size(), f->metadata().size(), f->tensors().size(), f->alignment());
    size_t key_width = 0;
    for (const auto& kv : f->metadata()) key_width = std::max(key_width, kv.first.size());
    for (const auto& [key, value] : f->metadata())
        std::cout << fmt::format("  {:<{}}  {:<7} {}\n", key, key_width, gguf::value_type_name(value.type),
                                 value_text(value));

    size_t name_width = 4;
    for (const auto& t : f->tensors()) name_width = std::max(name_width, t.name.size());
    std::cout << fmt::format("\n  {:<{}}  {:<6} {:<16} {:>12} {:>12}\n", "name", name_width, "type", "dims", "offset",
                             "bytes");
    struct Total { size_t count = 0; uint64_t bytes = 0; int64_t elems = 0; };
    std::map<std::string, Total, std::less<>> totals;
    for (const auto& t : f->tensors()) {
        std::cout << fmt::format("  {:<{}}  {:<6} {:<16} {:>12} {:>12}\n", t.name, name_width, type_name(t.type),
                                 dims_text(t.dims), t.offset, t.size);
        Total& tot = totals[std::string(type_name(t.type))];
        ++tot.count;
        tot.bytes += t.size;
        tot.elems += t.n_elements();
    }
    std::cout << "\n  totals by type:\n";
    uint64_t all_bytes = 0;
    int64_t all_elems = 0;
    for (const auto& [type, tot] : totals) {
        std::cout << fmt::format("  {:<6} {:>5} tensors {:>14} elements {:>14} bytes\n", type, tot.count, tot.elems,
                                 tot.bytes);
        all_bytes += tot.bytes;
        all_elems += tot.elems;
    }
    std::cout << fmt::format("  {:<6} {:>5} tensors {:>14} elements {:>14} bytes\n", "all", f->tensors().size(),
                             all_elems, all_bytes);
    return 0;
}

} // namespace bitnet::cli
