// Activation quantizers. The numerics are formats::quantize_act_row_*, the single definition the
// host, gen-model and every test share; this file only walks rows and fills the optional row sums.
#include "scalar.hpp"

#include "formats/formats.hpp"

#include <cstdint>

namespace bitnet::scalar {
namespace {

using RowQuantizer = void (*)(const float*, int64_t, int8_t*, float*);

bitnet_status quantize(void* plugin, const void* args, const char* what, RowQuantizer fn,
                       int64_t scales_per_row_block) noexcept {
    return run_op<bitnet_quantize_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_quantize_args, out),
        [&](const Plugin& p, const bitnet_quantize_args& a) -> bitnet_status {
            if (a.m <= 0 || a.k <= 0) return invalid(p, what, "m and k must be positive");
            if (a.x == nullptr) return invalid(p, what, "x is NULL");
            if (a.ldx < a.k) return invalid(p, what, "ldx < k");
            if (a.out == nullptr || a.out->data == nullptr || a.out->scales == nullptr)
                return invalid(p, what, "out, its data or its scales are NULL");
            if (a.out->row_stride < static_cast<size_t>(a.k)) return invalid(p, what, "row_stride < k");

            // I8_ROW: one scale per row; I8_B256: one per started 256-block.
            const int64_t per_row = (a.k + scales_per_row_block - 1) / scales_per_row_block;
            for (int64_t m = 0; m < a.m; ++m) {
                int8_t* q = a.out->data + static_cast<size_t>(m) * a.out->row_stride;
                fn(a.x + m * static_cast<int64_t>(a.ldx), a.k, q, a.out->scales + m * per_row);
                if (a.out->row_sums != nullptr) {
                    int32_t sum = 0;
                    for (int64_t i = 0; i < a.k; ++i) sum += q[i];
                    a.out->row_sums[m] = sum;
                }
            }
            return BITNET_OK;
        });
}

} // namespace

bitnet_status run_quantize_i8row(void* plugin, const void* args, void*) noexcept {
    // A "block" as long as any row gives exactly one scale per row.
    return quantize(plugin, args, "quantize_i8row__scalar", &formats::quantize_act_row_i8, INT32_MAX);
}

bitnet_status run_quantize_i8b256(void* plugin, const void* args, void*) noexcept {
    return quantize(plugin, args, "quantize_i8b256__scalar", &formats::quantize_act_row_b256, 256);
}

} // namespace bitnet::scalar
