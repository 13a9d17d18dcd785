// TQ1_0 on avx2 runs as TQ2_0 (x86-common/tq1_repack_impl.hpp): the trit decoder for the
// load-time repack and the TQ1_0 kernels' run functions over the TQ2_0 ones, so TQ1_0 prefill also
// gets the AVX-VNNI TQ2_0 panel.
#include "avx2.hpp"

#include "tq1_repack_impl.hpp"

#include <immintrin.h>

#include <cstdint>

namespace bitnet::avx2 {
namespace {

struct Trits {
    // Trit n of the 32 bytes at p: floor(3 * ((v * 3^n) mod 256) / 256). Bytes are multiplied in
    // 16-bit lanes with the byte in the high half, so the product's high byte is exact mod 256;
    // even and odd bytes take one lane layout each and are merged back in place.
    static __m256i tq1_trits32(const uint8_t* p, int n) {
        static constexpr short kPow3[5] = {1, 3, 9, 27, 81};
        const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        const __m256i pow3 = _mm256_set1_epi16(kPow3[n]), high = _mm256_set1_epi16(static_cast<short>(0xff00));
        const __m256i even = _mm256_mulhi_epu16(_mm256_mullo_epi16(_mm256_slli_epi16(bytes, 8), pow3), _mm256_set1_epi16(3));
        const __m256i odd = _mm256_mulhi_epu16(_mm256_mullo_epi16(_mm256_and_si256(bytes, high), pow3), _mm256_set1_epi16(768));
        return _mm256_or_si256(even, _mm256_and_si256(odd, high));
    }
};
using Repack = x86::Tq1Repack<Trits>;

} // namespace

bitnet_status pack_tq1_0_as_tq2_0(void* plugin, const bitnet_shape* shape, const void* data, size_t size,
                                  void** packed, size_t* packed_bytes) noexcept {
    return Repack::pack(plugin, shape, data, size, packed, packed_bytes);
}

bitnet_status run_matmul_tq1_0_i8b256(void* plugin, const void* args, void* workspace) noexcept {
    return Repack::run_on_packed(plugin, args, workspace, "matmul_tq1_0_i8b256__avx2", &run_matmul_tq2_0_i8b256);
}

bitnet_status run_matmul_tq1_0_i8b256_panel(void* plugin, const void* args, void* workspace) noexcept {
    return Repack::run_on_packed(plugin, args, workspace, "matmul_tq1_0_i8b256_panel8x6__avxvnni",
                                 &run_matmul_tq2_0_i8b256_panel);
}

size_t workspace_matmul_tq1_0_i8b256_panel(void* plugin, const bitnet_shape* shape) noexcept {
    return Repack::workspace(plugin, shape, &workspace_matmul_tq2_0_i8b256_panel);
}

} // namespace bitnet::avx2
