// Entry point of the avx512 plugin (AVX-512 F/BW/VL/VNNI + F16C/FMA). Compiled without ISA flags;
// see x86-common/plugin_main.inc.
#include "avx512.hpp"

using namespace bitnet::avx512;

#define X86_PLUGIN_NAME "avx512"
#define X86_PLUGIN_ISA bitnet::x86::Isa::avx512
#define X86_PLUGIN_DESC "x86-64 AVX-512 VNNI"
#define X86_KERNELS_INC "avx512_kernels.inc"
#include "plugin_main.inc"

