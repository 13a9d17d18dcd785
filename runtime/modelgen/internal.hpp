// Pieces of the generator shared between its files; not installed.
#pragma once

#include "modelgen/modelgen.hpp"
#include "tokenizer/tokenizer.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

namespace bitnet::gguf { class Writer; }

namespace bitnet::modelgen::detail {

// splitmix64: seeds independent streams from (seed, stream id) so that every tensor (and every
// chunk of the embedding) draws the same numbers whichever thread generates it.
inline uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// xoshiro256**: fast, good enough for weights that only need to look random.
class Rng {
public:
    Rng(uint64_t seed, uint64_t stream) {
        uint64_t sm = seed ^ (stream * 0xD1B54A32D192ED03ull);
        for (uint64_t& w : s_) w = splitmix64(sm);
    }
    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    // Uniform in [0, 1) with 24 bits.
    float uniform() { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }
    // Two independent N(0,1) values (Box-Muller); u1 is kept away from 0 so log() is finite.
    void normal2(float& a, float& b) {
        const uint64_t r = next();
        const float u1 = (static_cast<float>(r >> 40) + 0.5f) * 0x1.0p-24f;
        const float u2 = static_cast<float>(r & 0xFFFFFF) * 0x1.0p-24f;
        const float rad = std::sqrt(-2.0f * std::log(u1));
        const float ang = 6.28318530717958647f * u2;
        a = rad * std::cos(ang);
        b = rad * std::sin(ang);
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

// The vocabulary written to the file, with the per-token scores Microsoft's layout carries.
struct GenVocab {
    tokenizer::VocabData data;
    bool llama3 = false;  // the Llama 3 vocabulary (decides tokenizer.ggml.pre for arch bitnet)
};

// The built-in byte-level vocabulary: 256 byte tokens, merges of common English words, then
// <|begin_of_text|>, <|end_of_text|>, <|eot_id|>. Always the same.
tokenizer::VocabData builtin_vocab();
// The vocabulary for `opts` (tokenizer.json or built-in), padded with unused tokens up to
// spec.vocab when that is larger; throws ModelGenError when spec.vocab is smaller.
GenVocab load_vocab(const ModelSpec& spec, const GenOptions& opts);

enum class Init { Ternary, Norm, Embedding };
struct TensorPlan {
    std::string name;
    std::vector<int64_t> dims;   // GGUF order: dims[0] = row length = fan-in
    formats::GgmlType type;
    Init init;
};
// Tensors in the order of the reference files for the arch.
std::vector<TensorPlan> plan_tensors(const ModelSpec& spec, const GenOptions& opts, int64_t n_vocab);
// Byte payloads of every planned tensor, generated on `threads` threads; deterministic in seed.
std::vector<std::vector<uint8_t>> fill_tensors(const std::vector<TensorPlan>& plans, uint64_t seed, int threads);

// All metadata keys, in the reference file's order for the arch.
void write_metadata(gguf::Writer& w, const ModelSpec& spec, const GenOptions& opts, const GenVocab& vocab);

} // namespace bitnet::modelgen::detail
