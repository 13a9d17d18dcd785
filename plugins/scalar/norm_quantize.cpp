// BITNET_OP_NORM_QUANTIZE as the reference defines it: this plugin's own FFN_ACT or ADD, RMSNORM
// and QUANTIZE_ACT run in turn, so the fused op equals the separate ones by construction.
#include "scalar.hpp"

namespace bitnet::scalar {
namespace {

bitnet_status norm_quantize(void* plugin, const void* args, const char* what, bitnet_act_type act,
                            sdk::RunFn quantize) noexcept {
    return run_op<bitnet_norm_quantize_args>(
        plugin, args, what, SCALAR_SIZE_UPTO(bitnet_norm_quantize_args, out),
        [&](const Plugin& p, const bitnet_norm_quantize_args& a) -> bitnet_status {
            if (a.act_type != act) return invalid(p, what, "act_type is not this kernel's");
            if (a.residual != nullptr && a.y == a.x) return invalid(p, what, "y aliases x while a residual is added");
            if (sdk::norm_quantize_up(a) != nullptr && (a.residual != nullptr || a.ld_up != a.ldx))
                return invalid(p, what, "up needs no residual and ld_up == ldx");
            return sdk::norm_quantize_by_parts(plugin, a, &run_add_f32, &run_rmsnorm_f32, quantize, &run_ffn_act_f32);
        });
}

} // namespace

bitnet_status run_norm_quantize_i8row(void* plugin, const void* args, void*) noexcept {
    return norm_quantize(plugin, args, "norm_quantize_i8row__scalar", BITNET_ACT_I8_ROW, &run_quantize_i8row);
}
bitnet_status run_norm_quantize_i8b256(void* plugin, const void* args, void*) noexcept {
    return norm_quantize(plugin, args, "norm_quantize_i8b256__scalar", BITNET_ACT_I8_B256, &run_quantize_i8b256);
}

} // namespace bitnet::scalar
