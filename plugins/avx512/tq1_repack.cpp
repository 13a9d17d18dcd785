// TQ1_0 on avx512 runs as TQ2_0: pack_weights decodes every 54-byte TQ1_0 block (1.6875 bits per
// weight, five base-3 digits per byte) once at load into the 66-byte TQ2_0 block with the same
// codes and the same f16 scale, and the TQ1_0 kernels hand the packed rows to the TQ2_0 kernels.
// Decoding base-3 digits costs about four multiplies per 64 weights, which bound the decode GEMV
// at ~0.45 of the memory roofline (a compute limit, and paid per token); the 2-bit codes cost a
// shift and a mask. The price is memory: the packed copy is 66/54 of the file's TQ1_0 bytes, and
// the host drops the file's pages once every kernel it routes a weight to reads the packed copy.
// Outputs are bit-identical to the scalar TQ1_0 kernel: the integer dots are exact and the float
// epilogue is the same per block.
#include "avx512.hpp"
#include "simd.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace bitnet::avx512 {
namespace {

using x86::Plugin;

// Trit n of 32 bytes (16-bit lanes, exact: 255 * 81 < 2^16), as 32 bytes: floor(3 * ((v * 3^n) mod 256) / 256).
__m256i trits(__m512i v16, int n) {
    static constexpr short kPow3[5] = {1, 3, 9, 27, 81};
    const __m512i m = _mm512_and_si512(_mm512_mullo_epi16(v16, _mm512_set1_epi16(kPow3[n])), _mm512_set1_epi16(0xff));
    return _mm512_cvtepi16_epi8(_mm512_srli_epi16(_mm512_mullo_epi16(m, _mm512_set1_epi16(3)), 8));
}

// One TQ1_0 block (qs[0..31] trit n -> element 32n + m; qs[32..47] trit n -> 160 + 16n + m;
// qh[j] trit n -> 240 + 4n + j; f16 d at 52) as a TQ2_0 block (byte 32h + m holds element
// 128h + 32l + m at bits 2l; f16 d at 64).
void tq1_block_to_tq2(const uint8_t* blk, uint8_t* out) {
    alignas(64) uint8_t codes[256];
    const __m512i a = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    const __m512i b = _mm512_cvtepu8_epi16(_mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32))));
    for (int n = 0; n < 5; ++n) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 32 * n), trits(a, n));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + 160 + 16 * n), _mm256_castsi256_si128(trits(b, n)));
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

// The packed rows in the form the TQ2_0 kernels take: args with w pointing at them. The checks
// (shape, the file's TQ1_0 bytes) were made on the caller's args; a missing pack is refused.
template <class Run>
bitnet_status run_on_packed(void* plugin, const void* args, void* workspace, const char* what, Run&& run) noexcept {
    return x86::run_matmul(plugin, args, what, BITNET_ACT_I8_B256, 256, &x86::tq1_row_bytes,
                           [&](const Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
                               if (a.w->packed == nullptr) return x86::invalid(p, what, "weights were not packed (pack_weights)");
                               const bitnet_weights w{a.w->packed, static_cast<size_t>(a.n) * x86::tq2_row_bytes(a.k),
                                                      a.w->scale, nullptr};
                               bitnet_matmul_args b = a;
                               b.w = &w;
                               return run(plugin, &b, workspace);
                           });
}

bitnet_shape as_tq2(const bitnet_shape* shape) {
    bitnet_shape s = *shape;
    s.weight_format = BITNET_WF_TQ2_0;
    return s;
}

} // namespace

bitnet_status pack_tq1_0_as_tq2_0(void* plugin, const bitnet_shape* shape, const void* data, size_t size,
                                  void** packed, size_t* packed_bytes) noexcept {
    Plugin* p = x86::as_plugin(plugin);
    if (p == nullptr || shape == nullptr || data == nullptr || packed == nullptr || packed_bytes == nullptr)
        return BITNET_ERR_INVALID_ARGUMENT;
    *packed = nullptr;
    *packed_bytes = 0;
    const int64_t n = shape->n, k = shape->k;
    if (n <= 0 || k <= 0 || k % 256 != 0) return x86::invalid(*p, "pack_tq1_0_as_tq2_0", "n must be positive and k a multiple of 256");
    const size_t rb1 = x86::tq1_row_bytes(k), rb2 = x86::tq2_row_bytes(k);
    if (size / rb1 < static_cast<uint64_t>(n)) return x86::invalid(*p, "pack_tq1_0_as_tq2_0", "size too small for n x k");
    const size_t bytes = static_cast<size_t>(n) * rb2;
    auto* out = static_cast<uint8_t*>(packed_memory().allocate(bytes));
    if (out == nullptr) return BITNET_ERR_OUT_OF_MEMORY;
    const auto* src = static_cast<const uint8_t*>(data);
    x86::parallel_ranges(*p, n, 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t b = 0; b < k / 256; ++b) tq1_block_to_tq2(src + r * rb1 + b * 54, out + r * rb2 + b * 66);
    });
    *packed = out;
    *packed_bytes = bytes;
    return BITNET_OK;
}



bitnet_status run_matmul_tq1_0_i8b256(void* plugin, const void* args, void* workspace) noexcept {
    return run_on_packed(plugin, args, workspace, "matmul_tq1_0_i8b256__avx512vnni", &run_matmul_tq2_0_i8b256);
}

bitnet_status run_matmul_tq1_0_i8b256_panel(void* plugin, const void* args, void* workspace) noexcept {
    return run_on_packed(plugin, args, workspace, "matmul_tq1_0_i8b256_panel16x12__avx512vnni",
                         &run_matmul_tq2_0_i8b256_panel);
}

size_t workspace_matmul_tq1_0_i8b256_panel(void* plugin, const bitnet_shape* shape) noexcept {
    if (shape == nullptr) return 0;
    const bitnet_shape s = as_tq2(shape);
    return workspace_matmul_tq2_0_i8b256_panel(plugin, &s);
}

} // namespace bitnet::avx512
