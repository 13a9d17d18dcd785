// Activation quantizers, bit-exact with formats::quantize_act_row_* (the rules in plugin.h):
// maxima are order-independent, the scale is one IEEE division (nvcc's default --prec-div), and
// rounding is __float2int_rn (half to even, as nearbyintf / lrintf in the default mode).
#include "cuda_common.cuh"
#include "cuda_plugin.hpp"

#include <cfloat>

namespace bitnet::cuda {
namespace {

constexpr int kThreads = 256;

// Block-wide reduction through shared memory; every thread gets the result.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T* smem) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    T r = smem[0];
    for (int i = 1; i < kThreads / 32; ++i) r = op(r, smem[i]);
    __syncthreads(); // smem is reused by the next reduction
    return r;
}

// I8_ROW: one block per row. s = (float)(127 / max(1e-5, max|x|)) with the max in double.
__global__ void __launch_bounds__(kThreads)
quantize_row(const float* __restrict__ x, int ldx, int k, int8_t* __restrict__ q, size_t ldq, float* __restrict__ scales,
             int32_t* __restrict__ row_sums) {
    griddep_enter();
    __shared__ float fsm[kThreads / 32];
    __shared__ int ism[kThreads / 32];
    const float* xr = x + static_cast<size_t>(blockIdx.x) * ldx;
    int8_t* qr = q + static_cast<size_t>(blockIdx.x) * ldq;
    float amax = 0.0f;
    for (int i = threadIdx.x; i < k; i += kThreads) amax = fmaxf(amax, fabsf(xr[i]));
    amax = block_reduce(amax, [](float a, float b) { return fmaxf(a, b); }, fsm);
    const float s = static_cast<float>(127.0 / fmax(1e-5, static_cast<double>(amax)));
    int sum = 0;
    for (int i = threadIdx.x; i < k; i += kThreads) {
        const float v = fminf(fmaxf(rintf(__fmul_rn(xr[i], s)), -128.0f), 127.0f);
        const int qi = static_cast<int>(v);
        qr[i] = static_cast<int8_t>(qi);
        sum += qi;
    }
    if (row_sums != nullptr) sum = block_reduce(sum, [](int a, int b) { return a + b; }, ism);
    if (threadIdx.x == 0) {
        scales[blockIdx.x] = s;
        if (row_sums != nullptr) row_sums[blockIdx.x] = sum;
    }
}

// quantize_row with the row in registers (rows up to kRowThreads * R; see cuda_common.cuh).
template <int R>
__global__ void __launch_bounds__(kRowThreads)
quantize_row_regs(const float* __restrict__ x, int ldx, int k, int8_t* __restrict__ q, size_t ldq,
                  float* __restrict__ scales, int32_t* __restrict__ row_sums) {
    griddep_enter();
    const float* xr = x + static_cast<size_t>(blockIdx.x) * ldx;
    int8_t* qr = q + static_cast<size_t>(blockIdx.x) * ldq;
    float v[R];
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < R; ++j) {
        const int i = threadIdx.x + j * kRowThreads;
        v[j] = i < k ? xr[i] : 0.0f;
        amax = fmaxf(amax, fabsf(v[j]));
    }
    amax = block_allreduce(amax, 0.0f, [](float a, float b) { return fmaxf(a, b); });
    const float s = static_cast<float>(127.0 / fmax(1e-5, static_cast<double>(amax)));
    int sum = 0;
#pragma unroll
    for (int j = 0; j < R; ++j) {
        const int i = threadIdx.x + j * kRowThreads;
        if (i >= k) break;
        const int qi = static_cast<int>(fminf(fmaxf(rintf(__fmul_rn(v[j], s)), -128.0f), 127.0f));
        qr[i] = static_cast<int8_t>(qi);
        sum += qi;
    }
    if (row_sums != nullptr) sum = block_allreduce(sum, 0, [](int a, int b) { return a + b; });
    if (threadIdx.x == 0) {
        scales[blockIdx.x] = s;
        if (row_sums != nullptr) row_sums[blockIdx.x] = sum;
    }
}

// I8_B256: one block per (256-block, row); thread i owns element i of the block. m is the signed
// value of the largest |x|, the first on ties: the reduction keeps (|x|, index) pairs.
__global__ void __launch_bounds__(kThreads)
quantize_b256(const float* __restrict__ x, int ldx, int k, int8_t* __restrict__ q, size_t ldq, float* __restrict__ d_out,
              int32_t* __restrict__ row_sums) {
    griddep_enter();
    __shared__ unsigned long long psm[kThreads / 32];
    __shared__ int ism[kThreads / 32];
    const int row = blockIdx.y, blk = blockIdx.x, i = blk * 256 + threadIdx.x;
    const float* xr = x + static_cast<size_t>(row) * ldx;
    const bool in = i < k;
    const float v = in ? xr[i] : 0.0f;
    // |x| >= 0 orders like its bit pattern; the low word holds ~index so larger means earlier.
    const unsigned long long key =
        in ? (static_cast<unsigned long long>(__float_as_uint(fabsf(v))) << 32) | (0xffffffffu - unsigned(i)) : 0ull;
    const unsigned long long best =
        block_reduce(key, [](unsigned long long a, unsigned long long b) { return a > b ? a : b; }, psm);
    const float amax = __uint_as_float(static_cast<uint32_t>(best >> 32));
    int qi = 0;
    float d = 0.0f;
    if (amax != 0.0f) {
        const float m = xr[0xffffffffu - static_cast<uint32_t>(best & 0xffffffffu)];
        const float iscale = -127.0f / m;
        if (in) qi = min(127, __float2int_rn(__fmul_rn(iscale, v)));
        d = 1.0f / iscale;
    }
    if (in) q[static_cast<size_t>(row) * ldq + i] = static_cast<int8_t>(qi);
    if (threadIdx.x == 0) d_out[static_cast<size_t>(row) * gridDim.x + blk] = d;
    if (row_sums != nullptr) {
        const int s = block_reduce(qi, [](int a, int b) { return a + b; }, ism);
        if (threadIdx.x == 0) atomicAdd(row_sums + row, s);
    }
}

bitnet_status run_quantize(void* plugin, const void* args, const char* what, bool b256) {
    return run_op<bitnet_quantize_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_quantize_args, out),
        [&](Plugin& p, const bitnet_quantize_args& a) -> bitnet_status {
            if (a.m <= 0 || a.k <= 0 || a.x == nullptr || a.ldx < a.k) return fail(p, what, "bad m, k, x or ldx");
            if (a.out == nullptr || a.out->data == nullptr || a.out->scales == nullptr ||
                a.out->row_stride < static_cast<size_t>(a.k))
                return fail(p, what, "bad out, its data, scales or row_stride");
            const bitnet_qact& o = *a.out;
            const unsigned nb = ceil_div(a.k, 256);
            if (!on_device(p, a.x, ((size_t(a.m) - 1) * a.ldx + a.k) * 4) ||
                !on_device(p, o.data, (size_t(a.m) - 1) * o.row_stride + a.k) ||
                !on_device(p, o.scales, size_t(a.m) * (b256 ? nb : 1) * 4) ||
                (o.row_sums != nullptr && !on_device(p, o.row_sums, size_t(a.m) * 4)))
                return not_on_device(p, what, "x or out is not device memory of this plugin");
            if (b256) {
                if (o.row_sums != nullptr) {
                    if (bitnet_status st = check(p, what, cudaMemsetAsync(o.row_sums, 0, size_t(a.m) * 4, p.stream));
                        st != BITNET_OK)
                        return st;
                }
                launch_kernel(p.pdl, quantize_b256, dim3(nb, a.m), kThreads, 0, p.stream, a.x, a.ldx, a.k, o.data, o.row_stride,
                                                                        o.scales, o.row_sums);
            } else {
                const bool in_registers = dispatch_row_regs(a.k, [&](auto regs) {
                    launch_kernel(p.pdl, quantize_row_regs<decltype(regs)::value>, a.m, kRowThreads, 0, p.stream, a.x, a.ldx, a.k, o.data,
                                  o.row_stride, o.scales, o.row_sums);
                });
                if (!in_registers)
                    launch_kernel(p.pdl, quantize_row, a.m, kThreads, 0, p.stream, a.x, a.ldx, a.k, o.data, o.row_stride,
                                  o.scales, o.row_sums);
            }
            return check_launch(p, what);
        });
}

} // namespace

bitnet_status run_quantize_i8row(void* plugin, const void* args, void*) noexcept {
    return run_quantize(plugin, args, "quantize_i8row__cuda", false);
}
bitnet_status run_quantize_i8b256(void* plugin, const void* args, void*) noexcept {
    return run_quantize(plugin, args, "quantize_i8b256__cuda", true);
}

} // namespace bitnet::cuda
