// TQ1_0 runs as TQ2_0 on the x86 plugins: pack_weights decodes every 54-byte TQ1_0 block (1.6875
// bits per weight, five base-3 digits per byte) once at load into the 66-byte TQ2_0 block with the
// same codes and the same f16 scale, and the TQ1_0 kernels hand the packed rows to the plugin's
// TQ2_0 kernels. Decoding base-3 digits costs about four multiplies per 64 weights, which bound
// the decode GEMV at ~0.45 of the memory roofline (a compute limit, paid per token); 2-bit codes
// cost a shift and a mask. The price is memory: the packed copy is 66/54 of the file's TQ1_0
// bytes, and the host drops the file's pages once every kernel routed for a weight reads the
// packed copy. Outputs are bit-identical to the scalar TQ1_0 kernel: the integer dots are exact
// and the float epilogue is the same per block.
//
// Isa::tq1_trits32(p, n): trit n (0..4) of each of the 32 bytes at p, as 32 code bytes.
#pragma once

#include "pack_arena.hpp"
#include "x86_plugin.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace bitnet::x86 {

template <class Isa>
struct Tq1Repack {
    // One TQ1_0 block (qs[0..31] trit n -> element 32n + m; qs[32..47] trit n -> 160 + 16n + m;
    // qh[j] trit n -> 240 + 4n + j; f16 d at 52) as a TQ2_0 block (byte 32h + m holds element
    // 128h + 32l + m at bits 2l; f16 d at 64).
    static void block(const uint8_t* blk, uint8_t* out) {
        alignas(32) uint8_t codes[256];
        alignas(32) uint8_t tail[32] = {};
        std::memcpy(tail, blk + 32, 16); // the 16-byte half, without reading past the block
        for (int n = 0; n < 5; ++n) {
            _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 32 * n), Isa::tq1_trits32(blk, n));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + 160 + 16 * n),
                             _mm256_castsi256_si128(Isa::tq1_trits32(tail, n)));
        }
        for (int n = 0; n < 4; ++n)
            for (int j = 0; j < 4; ++j) {
                static constexpr int kPow3[4] = {1, 3, 9, 27};
                codes[240 + 4 * n + j] = static_cast<uint8_t>(3 * ((blk[48 + j] * kPow3[n]) & 0xff) >> 8);
            }
        for (int h = 0; h < 2; ++h) {
            auto at = [&](int l) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(codes + 128 * h + 32 * l)); };
            // Codes are <= 2, so 16-bit shifts by <= 6 never carry into the next byte.
            const __m256i packed = _mm256_or_si256(_mm256_or_si256(at(0), _mm256_slli_epi16(at(1), 2)),
                                                   _mm256_or_si256(_mm256_slli_epi16(at(2), 4), _mm256_slli_epi16(at(3), 6)));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * h), packed);
        }
        std::memcpy(out + 64, blk + 52, 2);
    }

    // The kernel descriptors' pack_weights: rows of TQ2_0 blocks in the plugin's PackArena.
    static bitnet_status pack(void* plugin, const bitnet_shape* shape, const void* data, size_t size, void** packed,
                              size_t* packed_bytes) noexcept {
        static constexpr const char* what = "pack_tq1_0_as_tq2_0";
        Plugin* p = as_plugin(plugin);
        if (p == nullptr || shape == nullptr || data == nullptr || packed == nullptr || packed_bytes == nullptr)
            return BITNET_ERR_INVALID_ARGUMENT;
        *packed = nullptr;
        *packed_bytes = 0;
        const int64_t n = shape->n, k = shape->k;
        if (n <= 0 || k <= 0 || k % 256 != 0) return invalid(*p, what, "n must be positive and k a multiple of 256");
        const size_t rb1 = tq1_row_bytes(k), rb2 = tq2_row_bytes(k);
        if (size / rb1 < static_cast<uint64_t>(n)) return invalid(*p, what, "size too small for n x k");
        const size_t bytes = static_cast<size_t>(n) * rb2;
        auto* out = static_cast<uint8_t*>(packed_memory().allocate(bytes));
        if (out == nullptr) return BITNET_ERR_OUT_OF_MEMORY;
        const auto* src = static_cast<const uint8_t*>(data);
        parallel_ranges(*p, n, 1, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t b = 0; b < k / 256; ++b) block(src + r * rb1 + b * 54, out + r * rb2 + b * 66);
        });
        *packed = out;
        *packed_bytes = bytes;
        return BITNET_OK;
    }

    // A TQ1_0 kernel's run(): the checks on the caller's args (shape, the file's TQ1_0 bytes),
    // then `run` (a TQ2_0 kernel's) on the packed rows. A missing pack is refused.
    template <class Run>
    static bitnet_status run_on_packed(void* plugin, const void* args, void* workspace, const char* what, Run&& run) noexcept {
        return run_matmul(plugin, args, what, BITNET_ACT_I8_B256, 256, &tq1_row_bytes,
                          [&](const Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
                              if (a.w->packed == nullptr) return invalid(p, what, "weights were not packed (pack_weights)");
                              const bitnet_weights w{a.w->packed, static_cast<size_t>(a.n) * tq2_row_bytes(a.k), a.w->scale,
                                                     nullptr};
                              bitnet_matmul_args b = a;
                              b.w = &w;
                              return run(plugin, &b, workspace);
                          });
    }

    // The TQ2_0 kernel's workspace for a TQ1_0 shape.
    template <class Size>
    static size_t workspace(void* plugin, const bitnet_shape* shape, Size&& size) noexcept {
        if (shape == nullptr) return 0;
        bitnet_shape s = *shape;
        s.weight_format = BITNET_WF_TQ2_0;
        return size(plugin, &s);
    }
};

} // namespace bitnet::x86
