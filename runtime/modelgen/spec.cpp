// Named shapes, option parsing and the checks that keep a request writable.
#include "modelgen/modelgen.hpp"

#include <fmt/format.h>

#include <array>

namespace bitnet::modelgen {
namespace {

struct Preset {
    std::string_view name;
    int64_t hidden, ffn, layers, heads, kv_heads, vocab;
};

// 2b-4t is Microsoft's released model exactly; 3b/7b/13b are the BitNet b1.58 paper's table
// (MHA). `small` is the public oracle's shape. vocab 0 = whatever the chosen vocabulary holds.
constexpr std::array<Preset, 6> kPresets{{
    {"tiny", 256, 768, 2, 4, 1, 0},
    {"small", 256, 512, 4, 4, 2, 128256},
    {"2b-4t", 2560, 6912, 30, 20, 5, 128256},
    {"3b", 3200, 8640, 26, 32, 32, 128256},
    {"7b", 4096, 11008, 32, 32, 32, 128256},
    {"13b", 5120, 13824, 40, 40, 40, 128256},
}};

} // namespace

std::vector<std::string> preset_names() {
    std::vector<std::string> out;
    for (const Preset& p : kPresets) out.emplace_back(p.name);
    return out;
}

ModelSpec shape_preset(std::string_view name) {
    for (const Preset& p : kPresets) {
        if (p.name != name) continue;
        ModelSpec s;
        s.name = std::string(p.name);
        s.hidden = p.hidden;
        s.ffn = p.ffn;
        s.layers = p.layers;
        s.heads = p.heads;
        s.kv_heads = p.kv_heads;
        s.vocab = p.vocab;
        return s;
    }
    throw ModelGenError(fmt::format("unknown shape '{}' (known: {})", name, fmt::join(preset_names(), ", ")));
}

Arch parse_arch(std::string_view name) {
    if (name == "bitnet-b1.58") return Arch::BitnetB158;
    if (name == "bitnet") return Arch::Bitnet;
    throw ModelGenError(fmt::format("unknown arch '{}' (known: bitnet-b1.58, bitnet)", name));
}

std::string_view arch_name(Arch arch) { return arch == Arch::Bitnet ? "bitnet" : "bitnet-b1.58"; }

formats::GgmlType parse_weight_type(std::string_view name) {
    using formats::GgmlType;
    if (name == "i2_s") return GgmlType::I2_S;
    if (name == "tq1_0") return GgmlType::TQ1_0;
    if (name == "tq2_0") return GgmlType::TQ2_0;
    throw ModelGenError(fmt::format("unknown weight format '{}' (known: i2_s, tq1_0, tq2_0)", name));
}

formats::GgmlType parse_head_type(std::string_view name) {
    using formats::GgmlType;
    if (name == "f16") return GgmlType::F16;
    if (name == "q8_0") return GgmlType::Q8_0;
    if (name == "q6_k") return GgmlType::Q6_K;
    throw ModelGenError(fmt::format("unknown head format '{}' (known: f16, q8_0, q6_k)", name));
}

void validate(const ModelSpec& s, const GenOptions& opts) {
    using formats::GgmlType;
    auto positive = [](const char* what, int64_t v) {
        if (v <= 0) throw ModelGenError(fmt::format("--{} must be positive (got {})", what, v));
    };
    positive("hidden", s.hidden);
    positive("ffn", s.ffn);
    positive("layers", s.layers);
    positive("heads", s.heads);
    positive("kv-heads", s.kv_heads);
    positive("ctx", s.ctx);
    if (s.vocab < 0) throw ModelGenError(fmt::format("--vocab must not be negative (got {})", s.vocab));
    // Sizes beyond this would overflow tensor byte counts long before any machine could hold them.
    constexpr int64_t kMaxDim = int64_t{1} << 24;
    for (int64_t v : {s.hidden, s.ffn, s.layers, s.heads, s.vocab, s.ctx})
        if (v > kMaxDim) throw ModelGenError(fmt::format("dimension {} is too large (limit {})", v, kMaxDim));
    if (s.hidden % s.heads != 0)
        throw ModelGenError(fmt::format("--heads {} does not divide --hidden {}", s.heads, s.hidden));
    if (s.heads % s.kv_heads != 0)
        throw ModelGenError(fmt::format("--kv-heads {} does not divide --heads {}", s.kv_heads, s.heads));
    if (s.head_dim() % 2 != 0)
        throw ModelGenError(fmt::format("head_dim {} (hidden/heads) must be even for RoPE", s.head_dim()));
    if (opts.weights != GgmlType::I2_S && opts.weights != GgmlType::TQ1_0 && opts.weights != GgmlType::TQ2_0)
        throw ModelGenError("the linear weights must be i2_s, tq1_0 or tq2_0");
    if (opts.head != GgmlType::F16 && opts.head != GgmlType::Q8_0 && opts.head != GgmlType::Q6_K)
        throw ModelGenError("the head (token_embd) must be f16, q8_0 or q6_k");
    const formats::TypeInfo* w = formats::type_info(static_cast<uint32_t>(opts.weights));
    const formats::TypeInfo* h = formats::type_info(static_cast<uint32_t>(opts.head));
    // I2_S's x86 layout packs 128-weight blocks; the TQ types 256-weight blocks, per row.
    const int64_t wblock = opts.weights == GgmlType::I2_S ? 128 : w->block_elems;
    for (auto [what, k] : {std::pair{"--hidden", s.hidden}, std::pair{"--ffn", s.ffn}})
        if (k % wblock != 0)
            throw ModelGenError(fmt::format("{} {} is not a multiple of {}: {} rows need blocks of {} weights",
                                            what, k, wblock, w->name, wblock));
    if (s.hidden % h->block_elems != 0)
        throw ModelGenError(fmt::format("--hidden {} is not a multiple of {}, the {} head's block",
                                        s.hidden, h->block_elems, h->name));
}

} // namespace bitnet::modelgen
