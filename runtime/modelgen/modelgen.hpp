// Synthetic BitNet b1.58 models: GGUF files of a named shape whose weights are seeded random
// ternary tensors in the real storage formats, with the key set of the files the reference
// engines load (Microsoft's `bitnet-b1.58` layout or llama.cpp's `bitnet`). Used for benchmarks,
// tests and the embedded default model; the logits mean nothing.
#pragma once

#include "formats/formats.hpp"

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet::modelgen {

// Every invalid request (unknown preset, shape a format cannot hold, unreadable tokenizer) is
// reported as this, with a message naming the offending option and what would be valid.
class ModelGenError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ModelSpec {
    std::string name = "custom";  // preset name, informational
    int64_t hidden = 0;
    int64_t ffn = 0;
    int64_t layers = 0;
    int64_t heads = 0;
    int64_t kv_heads = 0;
    int64_t vocab = 0;            // 0 = the chosen vocabulary's own size; larger pads it
    int64_t ctx = 4096;
    float rope_theta = 500000.0f;
    float rms_eps = 1e-5f;
    int64_t head_dim() const { return heads > 0 ? hidden / heads : 0; }
};

// Preset names: tiny, small, 2b-4t, 3b, 7b, 13b. Throws ModelGenError listing them otherwise.
ModelSpec shape_preset(std::string_view name);
std::vector<std::string> preset_names();

enum class Arch { BitnetB158, Bitnet };
Arch parse_arch(std::string_view name);          // "bitnet-b1.58" | "bitnet"; throws otherwise
std::string_view arch_name(Arch arch);

struct GenOptions {
    Arch arch = Arch::BitnetB158;
    formats::GgmlType weights = formats::GgmlType::I2_S;  // I2_S | TQ1_0 | TQ2_0
    formats::GgmlType head = formats::GgmlType::F16;      // F16 | Q8_0 | Q6_K (tied token_embd)
    uint64_t seed = 42;
    std::filesystem::path tokenizer_json;  // empty = the built-in byte-level vocabulary
    std::string model_name;                // general.name; empty = derived from the spec
    int threads = 0;                       // 0 = all cores
};

// "i2_s"/"tq1_0"/"tq2_0" and "f16"/"q8_0"/"q6_k"; throw ModelGenError naming the valid choices.
formats::GgmlType parse_weight_type(std::string_view name);
formats::GgmlType parse_head_type(std::string_view name);

// Throws ModelGenError when the spec cannot be written with these options: non-positive sizes,
// heads not dividing hidden or kv_heads not dividing heads, an odd head_dim, row lengths that are
// not a multiple of the weight format's block (I2_S 128, TQ 256) or of the head format's.
// Does not look at the vocabulary (generate_model checks `vocab` against it).
void validate(const ModelSpec& spec, const GenOptions& opts);

struct GenSummary {
    int64_t n_params = 0;       // every tensor element, embedding included
    int64_t n_vocab = 0;
    uint64_t file_bytes = 0;
    size_t n_tensors = 0;
};

// Writes the model to `out` (through a temporary file renamed into place, so `out` is either the
// old file or the complete new one). The same spec, options and seed always give the same bytes,
// whatever the thread count. Throws ModelGenError for bad requests, gguf::GgufError on I/O errors.
GenSummary generate_model(const ModelSpec& spec, const GenOptions& opts, const std::filesystem::path& out);

// The embedded default model used by `bitnet run` without -m: `tiny` shape, I2_S weights, F16
// head, built-in vocabulary, fixed seed, in user_cache_dir(). Generated on first use (or when the
// cached file is missing or does not open as GGUF with the expected tensors); returns its path.
// Safe against concurrent callers: each writes its own temp file and renames it into place.
std::filesystem::path ensure_default_model();

} // namespace bitnet::modelgen
