// Helpers shared by the scalar kernel tests: the loaded plugin, deterministic random data, and
// decoders written independently of runtime/formats (the plugin uses formats, so the references
// must not).
#pragma once

#include "plugin_fixture.hpp"

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace bitnet::testing {

// The scalar plugin with instances on 1 and 2 threads, loaded once per test binary.
struct ScalarEnv {
    LoadedPlugin lib{plugin_library("scalar")};
    ThreadHost host1{1}, host2{2};
    PluginInstance one{lib, host1}, two{lib, host2};
};
inline ScalarEnv& scalar_env() {
    static auto env = std::make_unique<ScalarEnv>();
    return *env;
}

inline constexpr double kF32Eps = 1.0 / (1 << 24); // unit roundoff of f32 (half an ulp at 1)

class Rng {
public:
    explicit Rng(uint32_t seed) : gen_(seed) {}
    float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen_); }
    int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
    std::vector<float> floats(size_t n, float lo = -1.0f, float hi = 1.0f) {
        std::vector<float> v(n);
        for (auto& x : v) x = uniform(lo, hi);
        return v;
    }

private:
    std::mt19937 gen_;
};

// IEEE half -> double from the bit fields (no table, no formats).
inline double half_to_double(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 10) & 31, frac = h & 1023;
    double v;
    if (exp == 0) v = std::ldexp(frac, -24);
    else if (exp == 31) v = frac ? NAN : INFINITY;
    else v = std::ldexp(1024 + frac, exp - 25);
    return sign ? -v : v;
}

// A half with random sign, 10-bit fraction and an exponent in [emin, emax] (unbiased).
inline uint16_t random_half(Rng& rng, int emin, int emax) {
    const int e = rng.integer(emin, emax) + 15;
    return static_cast<uint16_t>((rng.integer(0, 1) << 15) | (e << 10) | rng.integer(0, 1023));
}

inline void put_u16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v & 0xff);
    p[1] = static_cast<uint8_t>(v >> 8);
}

} // namespace bitnet::testing
