// TQ1_0 on avx512 runs as TQ2_0 (x86-common/tq1_repack_impl.hpp): the trit decoder for the
// load-time repack and the TQ1_0 kernels' run functions over the TQ2_0 ones.
#include "avx512.hpp"

#include "tq1_repack_impl.hpp"

#include <immintrin.h>

#include <cstdint>

namespace bitnet::avx512 {
namespace {

struct Trits {
    // Trit n of the 32 bytes at p, widened to 16-bit lanes (exact: 255 * 81 < 2^16):
    // floor(3 * ((v * 3^n) mod 256) / 256).
    static __m256i tq1_trits32(const uint8_t* p, int n) {
        static constexpr short kPow3[5] = {1, 3, 9, 27, 81};
        const __m512i v16 = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
        const __m512i m = _mm512_and_si512(_mm512_mullo_epi16(v16, _mm512_set1_epi16(kPow3[n])), _mm512_set1_epi16(0xff));
        // The zero-masked narrowing: GCC 12 warns that the unmasked one's undefined source is used
        // uninitialized once this is inlined into the repack loop.
        return _mm512_maskz_cvtepi16_epi8(~__mmask32{0}, _mm512_srli_epi16(_mm512_mullo_epi16(m, _mm512_set1_epi16(3)), 8));
    }
};
using Repack = x86::Tq1Repack<Trits>;

} // namespace

bitnet_status pack_tq1_0_as_tq2_0(void* plugin, const bitnet_shape* shape, const void* data, size_t size,
                                  void** packed, size_t* packed_bytes) noexcept {
    return Repack::pack(plugin, shape, data, size, packed, packed_bytes);
}

bitnet_status run_matmul_tq1_0_i8b256(void* plugin, const void* args, void* workspace) noexcept {
    return Repack::run_on_packed(plugin, args, workspace, "matmul_tq1_0_i8b256__avx512vnni", &run_matmul_tq2_0_i8b256);
}

bitnet_status run_matmul_tq1_0_i8b256_panel(void* plugin, const void* args, void* workspace) noexcept {
    return Repack::run_on_packed(plugin, args, workspace, "matmul_tq1_0_i8b256_panel16x12__avx512vnni",
                                 &run_matmul_tq2_0_i8b256_panel);
}

size_t workspace_matmul_tq1_0_i8b256_panel(void* plugin, const bitnet_shape* shape) noexcept {
    return Repack::workspace(plugin, shape, &workspace_matmul_tq2_0_i8b256_panel);
}

} // namespace bitnet::avx512
