// Declarations of the avx2 plugin's run functions, from its kernel list.
#pragma once

#include "pack_arena.hpp"
#include "x86_plugin.hpp"

namespace bitnet::avx2 {

#define X86_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run) \
    bitnet_status run(void* plugin, const void* args, void* workspace) noexcept;
#define X86_KERNEL_EX(name, op, wf, act, m_min, m_max, k_mult, n_mult, run, supports, workspace_size) \
    X86_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run)
#define X86_KERNEL_PACKED(name, op, wf, act, m_min, m_max, k_mult, n_mult, run, supports, workspace_size, pack, release) \
    X86_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run)
#include "avx2_kernels.inc"
#undef X86_KERNEL_PACKED
#undef X86_KERNEL_EX
#undef X86_KERNEL

// The X86_KERNEL_EX entries' extra functions.
int32_t supports_matmul_i2s_i8row_panel(void* plugin, const bitnet_shape* shape) noexcept;
size_t workspace_matmul_i2s_i8row_panel(void* plugin, const bitnet_shape* shape) noexcept;
int32_t supports_matmul_tq2_0_i8b256_panel(void* plugin, const bitnet_shape* shape) noexcept;
size_t workspace_matmul_tq2_0_i8b256_panel(void* plugin, const bitnet_shape* shape) noexcept;
size_t workspace_matmul_tq1_0_i8b256_panel(void* plugin, const bitnet_shape* shape) noexcept;
bitnet_status pack_tq1_0_as_tq2_0(void* plugin, const bitnet_shape* shape, const void* data, size_t size,
                                  void** packed, size_t* packed_bytes) noexcept;

} // namespace bitnet::avx2
