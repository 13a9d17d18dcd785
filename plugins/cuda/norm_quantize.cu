// BITNET_OP_NORM_QUANTIZE: the residual add (or, since ABI 1.5, the FFN activation), RMSNorm and
// row quantization in front of each BitLinear as one launch instead of three (a decode step is ~720 launches of a few µs each, so
// their count, not their bytes, sets its time). The numerics are those of the separate kernels
// (norm_rope.cu, quantize.cu): the same float operations in the same order per element.
#include "cuda_common.cuh"
#include "cuda_plugin.hpp"

namespace bitnet::cuda {
namespace {

// One block per row, the row in registers (see kRowThreads). kQuantRow: also quantize y by the
// I8_ROW rule; otherwise the caller quantizes y with the I8_B256 kernel. With `up` (ABI 1.5) the
// row is act(x) * up first (ffn_kind), x is not written back, and residual is NULL.
template <int R, bool kQuantRow>
__global__ void __launch_bounds__(kRowThreads)
norm_quantize_regs(float* x, int ldx, const float* residual, int ld_residual, const float* __restrict__ up, int ld_up,
                   int ffn_kind, const float* __restrict__ weight, float eps, float* y, int ldy, int n,
                   int8_t* __restrict__ q, size_t ldq, float* __restrict__ scales, int32_t* __restrict__ row_sums) {
    float* xr = x + static_cast<size_t>(blockIdx.x) * ldx;
    float* yr = y + static_cast<size_t>(blockIdx.x) * ldy;
    const float* rr = residual != nullptr ? residual + static_cast<size_t>(blockIdx.x) * ld_residual : nullptr;
    const float* ur = up != nullptr ? up + static_cast<size_t>(blockIdx.x) * ld_up : nullptr;
    float v[R], w[R];
    // The norm weight is the model's, not the previous kernel's output: read before waiting on it.
#pragma unroll
    for (int j = 0; j < R; ++j) {
        const int i = threadIdx.x + j * kRowThreads;
        w[j] = weight != nullptr && i < n ? weight[i] : 1.0f;
    }
    griddep_enter();
#pragma unroll
    for (int j = 0; j < R; ++j) {
        const int i = threadIdx.x + j * kRowThreads;
        v[j] = i < n ? xr[i] : 0.0f;
        if (ur != nullptr && i < n) v[j] = ffn_gate_up(ffn_kind, v[j], ur[i]);
        if (rr != nullptr && i < n) v[j] = __fadd_rn(v[j], rr[i]); // ADD: y += x with y the stream
    }
    if (rr != nullptr) {
#pragma unroll
        for (int j = 0; j < R; ++j)
            if (const int i = threadIdx.x + j * kRowThreads; i < n) xr[i] = v[j];
    }
    double s = 0.0;
#pragma unroll
    for (int j = 0; j < R; ++j) s += static_cast<double>(__fmul_rn(v[j], v[j]));
    const double total = block_allreduce(s, 0.0, [](double a, double b) { return a + b; });
    const float scale = 1.0f / sqrtf(static_cast<float>(total / n) + eps);
    float h[R];
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < R; ++j) {
        const int i = threadIdx.x + j * kRowThreads;
        const float o = __fmul_rn(v[j], scale);
        h[j] = weight != nullptr ? __fmul_rn(o, w[j]) : o;
        if (i < n) {
            yr[i] = h[j];
            amax = fmaxf(amax, fabsf(h[j]));
        }
    }
    if constexpr (kQuantRow) {
        amax = block_allreduce(amax, 0.0f, [](float a, float b) { return fmaxf(a, b); });
        const float qs = static_cast<float>(127.0 / fmax(1e-5, static_cast<double>(amax)));
        int8_t* qr = q + static_cast<size_t>(blockIdx.x) * ldq;
        int sum = 0;
#pragma unroll
        for (int j = 0; j < R; ++j) {
            const int i = threadIdx.x + j * kRowThreads;
            if (i >= n) break;
            const int qi = static_cast<int>(fminf(fmaxf(rintf(__fmul_rn(h[j], qs)), -128.0f), 127.0f));
            qr[i] = static_cast<int8_t>(qi);
            sum += qi;
        }
        if (row_sums != nullptr) sum = block_allreduce(sum, 0, [](int a, int b) { return a + b; });
        if (threadIdx.x == 0) {
            scales[blockIdx.x] = qs;
            if (row_sums != nullptr) row_sums[blockIdx.x] = sum;
        }
    }
}

bitnet_status norm_quantize(void* plugin, const void* args, const char* what, bitnet_act_type act) {
    return run_op<bitnet_norm_quantize_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_norm_quantize_args, out),
        [&](Plugin& p, const bitnet_norm_quantize_args& a) -> bitnet_status {
            if (a.act_type != act) return fail(p, what, "act_type is not this kernel's");
            if (a.m <= 0 || a.n <= 0 || a.x == nullptr || a.y == nullptr || a.ldx < a.n || a.ldy < a.n ||
                !(a.eps >= 0.0f) || (a.residual != nullptr && (a.ld_residual < a.n || a.y == a.x)))
                return fail(p, what, "bad m, n, x, y, ldx, ldy, eps or residual (y may alias x only without one)");
            if (a.out == nullptr || a.out->data == nullptr || a.out->scales == nullptr ||
                a.out->row_stride < static_cast<size_t>(a.n))
                return fail(p, what, "bad out, its data, scales or row_stride");
            const float* up = sdk::norm_quantize_up(a);
            if (up != nullptr && (a.residual != nullptr || a.ld_up < a.n))
                return fail(p, what, "up needs no residual and ld_up >= n");
            const bitnet_quantize_args qa{sizeof qa, a.m, a.n, a.y, a.ldy, a.out};
            const bool b256 = act == BITNET_ACT_I8_B256;
            auto row_bytes = [&](int32_t ld) { return ((size_t(a.m) - 1) * ld + a.n) * 4; };
            if (!on_device(p, a.x, row_bytes(a.ldx)) || !on_device(p, a.y, row_bytes(a.ldy)) ||
                (a.residual != nullptr && !on_device(p, a.residual, row_bytes(a.ld_residual))) ||
                (up != nullptr && !on_device(p, up, row_bytes(a.ld_up))) ||
                (a.weight != nullptr && !on_device(p, a.weight, size_t(a.n) * 4)) ||
                !on_device(p, a.out->data, (size_t(a.m) - 1) * a.out->row_stride + a.n) ||
                !on_device(p, a.out->scales, size_t(a.m) * (b256 ? ceil_div(a.n, 256) : 1) * 4) ||
                (a.out->row_sums != nullptr && !on_device(p, a.out->row_sums, size_t(a.m) * 4)))
                return not_on_device(p, what, "x, residual, weight, y or out is not device memory of this plugin");
            const bool in_registers = dispatch_row_regs(a.n, [&](auto regs) {
                constexpr int R = decltype(regs)::value;
                const int kind = int(up != nullptr ? a.ffn_kind : BITNET_FFN_RELU2);
                if (b256)
                    launch_kernel(p.pdl, norm_quantize_regs<R, false>, a.m, kRowThreads, 0, p.stream, a.x, a.ldx,
                                  a.residual, a.ld_residual, up, a.ld_up, kind, a.weight, a.eps, a.y, a.ldy, a.n,
                                  nullptr, size_t(0), nullptr, nullptr);
                else
                    launch_kernel(p.pdl, norm_quantize_regs<R, true>, a.m, kRowThreads, 0, p.stream, a.x, a.ldx,
                                  a.residual, a.ld_residual, up, a.ld_up, kind, a.weight, a.eps, a.y, a.ldy, a.n,
                                  a.out->data, a.out->row_stride, a.out->scales, a.out->row_sums);
            });
            if (in_registers) {
                if (bitnet_status st = check_launch(p, what); st != BITNET_OK || !b256) return st;
                return run_quantize_i8b256(plugin, &qa, nullptr);
            }
            // Rows too long for registers: the separate kernels in turn (the activation in place
            // in x, which the op allows; ld_up must then equal ldx).
            if (up != nullptr && a.ld_up != a.ldx) return fail(p, what, "rows this long need ld_up == ldx");
            return sdk::norm_quantize_by_parts(plugin, a, &run_add, &run_rmsnorm,
                                               b256 ? &run_quantize_i8b256 : &run_quantize_i8row, &run_ffn_act);
        });
}

} // namespace

bitnet_status run_norm_quantize_i8row(void* plugin, const void* args, void*) noexcept {
    return norm_quantize(plugin, args, "norm_quantize_i8row__cuda", BITNET_ACT_I8_ROW);
}
bitnet_status run_norm_quantize_i8b256(void* plugin, const void* args, void*) noexcept {
    return norm_quantize(plugin, args, "norm_quantize_i8b256__cuda", BITNET_ACT_I8_B256);
}

} // namespace bitnet::cuda
