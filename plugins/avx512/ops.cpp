// The non-matmul ops of the avx512 plugin: the ISA-generic kernels of x86-common bound to this
// plugin's Simd vocabulary and named for its kernel list.
#include "avx512.hpp"
#include "simd.hpp"

#include "attention_impl.hpp"
#include "eltwise_impl.hpp"
#include "quantize_impl.hpp"
#include "rope_impl.hpp"

namespace bitnet::avx512 {

bitnet_status run_rmsnorm_f32(void* plugin, const void* args, void*) noexcept {
    return x86::Eltwise<Simd>::rmsnorm(plugin, args, "rmsnorm_f32__avx512f");
}
bitnet_status run_ffn_act_f32(void* plugin, const void* args, void*) noexcept {
    return x86::Eltwise<Simd>::ffn_act(plugin, args, "ffn_act_f32__avx512f");
}
bitnet_status run_add_f32(void* plugin, const void* args, void*) noexcept {
    return x86::Eltwise<Simd>::add(plugin, args, "add_f32__avx512f");
}
bitnet_status run_kv_store_f16(void* plugin, const void* args, void*) noexcept {
    return x86::Eltwise<Simd>::kv_store(plugin, args, "kv_store_f16__avx512f");
}
bitnet_status run_rope_f32(void* plugin, const void* args, void*) noexcept {
    return x86::Rope<Simd>::run(plugin, args, "rope_f32__avx512f");
}
bitnet_status run_attention_f16kv(void* plugin, const void* args, void*) noexcept {
    return x86::Attention<Simd>::run(plugin, args, "attention_f16kv__avx512f");
}
bitnet_status run_quantize_i8row(void* plugin, const void* args, void*) noexcept {
    return x86::Quantize<Simd>::i8row(plugin, args, "quantize_i8row__avx512bw");
}
bitnet_status run_quantize_i8b256(void* plugin, const void* args, void*) noexcept {
    return x86::Quantize<Simd>::i8b256(plugin, args, "quantize_i8b256__avx512bw");
}

} // namespace bitnet::avx512
