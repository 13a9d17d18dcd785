// Shared by the neon plugin's translation units: the instance and argument-checking shell, which is
// ISA-free and lives in ../x86-common/x86_plugin.hpp despite the folder's name, and the run
// functions declared from the kernel list.
#pragma once

#include "x86_plugin.hpp"

namespace bitnet::neon {

using x86::Plugin;

#define NEON_KERNEL(name, op, wf, act, m_min, m_max, k_mult, n_mult, run) \
    bitnet_status run(void* plugin, const void* args, void* workspace) noexcept;
#include "neon_kernels.inc"
#undef NEON_KERNEL

} // namespace bitnet::neon
