// Declarations of the avx512 plugin's run functions, from its kernel list.
#pragma once

#include "x86_plugin.hpp"

namespace bitnet::avx512 {

#define X86_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run) \
    bitnet_status run(void* plugin, const void* args, void* workspace) noexcept;
#define X86_KERNEL_WS(name, op, wf, act, m_min, m_max, k_mult, n_mult, run, workspace_size) \
    X86_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run)                       \
    size_t workspace_size(void* plugin, const bitnet_shape* shape) noexcept;
#include "avx512_kernels.inc"
#undef X86_KERNEL_WS
#undef X86_KERNEL

} // namespace bitnet::avx512
