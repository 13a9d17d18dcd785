// Device helpers shared by the .cu files.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>
#include <utility>

namespace bitnet::cuda {

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Reduction over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets
// the result. `identity` fills the partials of absent warps. Safe to call repeatedly.
template <class T, class Op>
__device__ __forceinline__ T block_allreduce(T v, T identity, Op op) {
    __shared__ T partial[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    T r = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : identity;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) r = op(r, __shfl_xor_sync(0xffffffffu, r, o));
    __syncthreads(); // partial[] is free for the next call
    return r;
}

// Row kernels (RMSNorm, row quantization) give a row to one block of kRowThreads and hold up to
// kRowRegs elements per thread in registers: every load is issued at once and the row is read
// once, where a strided loop exposes one memory latency per element (a decode step runs 120 of
// these one-block kernels, so their latency is the step's).
constexpr int kRowThreads = 1024;
constexpr int kRowRegsMax = 8;

// Calls f(std::integral_constant<int, R>{}) with R in {1, 2, 4, 8} covering n elements, or
// returns false when n needs more than kRowThreads * kRowRegsMax.
template <class F>
bool dispatch_row_regs(int n, F&& f) {
    const int per_thread = (n + kRowThreads - 1) / kRowThreads;
    if (per_thread <= 1) f(std::integral_constant<int, 1>{});
    else if (per_thread <= 2) f(std::integral_constant<int, 2>{});
    else if (per_thread <= 4) f(std::integral_constant<int, 4>{});
    else if (per_thread <= kRowRegsMax) f(std::integral_constant<int, 8>{});
    else return false;
    return true;
}

// The gated FFN activation of one element, act(g) * u, with the scalar reference's float steps
// (relu² bit-exact; SiLU differs by expf's last bits). kind: bitnet_ffn_kind.
__device__ __forceinline__ float ffn_gate_up(int kind, float g, float u) {
    float act;
    if (kind == 0 /* BITNET_FFN_RELU2 */) {
        const float r = g > 0.0f ? g : 0.0f;
        act = __fmul_rn(r, r);
    } else {
        act = __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));
    }
    return __fmul_rn(act, u);
}

// IEEE half bits <-> float, round to nearest even (as formats::f32_to_fp16).
__device__ __forceinline__ float half_bits_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ uint16_t float_to_half_bits(float f) { return __half_as_ushort(__float2half_rn(f)); }

// n_past for this launch: the device value while a graph is captured (graph.cpp), else the arg.
__device__ __forceinline__ int32_t effective_n_past(const int32_t* dyn, int32_t n_past) {
    return dyn != nullptr ? *dyn : n_past;
}

// Programmatic dependent launch (Hopper): a kernel launched by launch() may be scheduled while its
// predecessor in the stream (or graph) drains, hiding the launch gap between the ~700 short
// kernels of a decode step. Every kernel therefore starts with griddep_enter(): it waits until the
// predecessor grid has finished and its writes are visible (so nothing is read or overwritten
// early), then lets its own successor start launching. Before sm_90 both are no-ops.
__device__ __forceinline__ void griddep_enter() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// kernel<<<grid, block, smem, stream>>>(args...), with the programmatic-serialization attribute
// when `pdl` (the device is sm_90+ and BITNET_CUDA_PDL is not 0).
template <class... Params, class... Args>
cudaError_t launch_kernel(bool pdl, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                          Args&&... args) {
    cudaLaunchAttribute attr[1] = {};
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cfg.attrs = attr;
    cfg.numAttrs = pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

inline unsigned ceil_div(long long a, long long b) { return static_cast<unsigned>((a + b - 1) / b); }

} // namespace bitnet::cuda
