// Entry point of the avx2 plugin (AVX2 + FMA + F16C). Compiled without ISA flags; see
// x86-common/plugin_main.inc.
#include "avx2.hpp"

using namespace bitnet::avx2;

#define X86_PLUGIN_NAME "avx2"
#define X86_PLUGIN_ISA bitnet::x86::Isa::avx2
#define X86_PLUGIN_DESC "x86-64 AVX2"
#define X86_KERNELS_INC "avx2_kernels.inc"
#include "plugin_main.inc"
