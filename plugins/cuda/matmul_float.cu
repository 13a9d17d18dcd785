// Float matmuls on the GPU (the lm_head: F16, Q8_0, Q6_K; F32/BF16 for completeness) with f32
// activations, on the file's own layout uploaded once. A warp owns one output row and a tile of
// up to MT tokens, so each weight block is read once per tile; every lane decodes its elements
// exactly as formats::dequantize_row does (same float products in the same order), and only the
// summation order differs from the scalar reference.
#include "cuda_common.cuh"
#include "cuda_plugin.hpp"

#include <cuda_bf16.h>

namespace bitnet::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// Each format walks a row in chunks; for_each(row, chunk, lane, K, f) calls f(k, value) for the
// lane's elements of that chunk. `row` may be global or shared memory (plain loads).
struct F32 {
    static constexpr int kChunk = 32;
    static __host__ __device__ size_t row_bytes(int k) { return size_t(k) * 4; }
    template <class F>
    static __device__ void for_each(const uint8_t* row, int c, int lane, int K, F&& f) {
        const int k = c * 32 + lane;
        if (k < K) f(k, reinterpret_cast<const float*>(row)[k]);
    }
};
struct F16 {
    static constexpr int kChunk = 32;
    static __host__ __device__ size_t row_bytes(int k) { return size_t(k) * 2; }
    template <class F>
    static __device__ void for_each(const uint8_t* row, int c, int lane, int K, F&& f) {
        const int k = c * 32 + lane;
        if (k < K) f(k, half_bits_to_float(reinterpret_cast<const unsigned short*>(row)[k]));
    }
};
struct BF16 {
    static constexpr int kChunk = 32;
    static __host__ __device__ size_t row_bytes(int k) { return size_t(k) * 2; }
    template <class F>
    static __device__ void for_each(const uint8_t* row, int c, int lane, int K, F&& f) {
        const int k = c * 32 + lane;
        if (k < K) f(k, __uint_as_float(uint32_t(reinterpret_cast<const unsigned short*>(row)[k]) << 16));
    }
};
struct Q8_0 {
    static constexpr int kChunk = 32;
    static __host__ __device__ size_t row_bytes(int k) { return size_t(k / 32) * 34; }
    template <class F>
    static __device__ void for_each(const uint8_t* row, int c, int lane, int, F&& f) {
        const uint8_t* blk = row + size_t(c) * 34;
        const float d = half_bits_to_float(static_cast<uint16_t>(blk[0] | (blk[1] << 8)));
        f(c * 32 + lane, static_cast<float>(static_cast<int8_t>(blk[2 + lane])) * d);
    }
};
struct Q6_K {
    static constexpr int kChunk = 256;
    static __host__ __device__ size_t row_bytes(int k) { return size_t(k / 256) * 210; }
    template <class F>
    static __device__ void for_each(const uint8_t* row, int c, int l, int, F&& f) {
        const uint8_t* blk = row + size_t(c) * 210;
        const float d = half_bits_to_float(static_cast<uint16_t>(blk[208] | (blk[209] << 8)));
        const int is = l / 16;
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = blk + 64 * h;
            const uint8_t qh = blk[128 + 32 * h + l];
            const auto* sc = reinterpret_cast<const int8_t*>(blk + 192 + 8 * h);
            const uint8_t lo = ql[l], hi = ql[l + 32];
            const int q[4] = {((lo & 0xF) | (((qh >> 0) & 3) << 4)) - 32, ((hi & 0xF) | (((qh >> 2) & 3) << 4)) - 32,
                              ((lo >> 4) | (((qh >> 4) & 3) << 4)) - 32, ((hi >> 4) | (((qh >> 6) & 3) << 4)) - 32};
#pragma unroll
            for (int i = 0; i < 4; ++i)
                f(c * 256 + 128 * h + 32 * i + l, d * static_cast<float>(sc[is + 2 * i]) * static_cast<float>(q[i]));
        }
    }
};

// Copies 4 bytes global -> shared without a register (Ampere+): a warp issues its whole row at once.
__device__ __forceinline__ void cp_async4(void* smem, const void* gmem) {
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(dst), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;" ::: "memory"); }

// A warp per output row. kStaged: the warp first copies its row into shared memory with every
// load in flight at once (cp.async), issued before waiting on the previous kernel (the weights do
// not depend on it); the decode then reads shared memory. The row-at-a-time walk it replaces had
// about one 210-byte Q6_K block in flight per warp and read the 269 MB head at ~1.4 TB/s on an
// H200 (PERF.md). Unstaged: rows too long for shared memory, or not whole 4-byte words.
template <class Fmt, int MT, bool kStaged>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
float_gemv(const uint8_t* __restrict__ w, const float* __restrict__ x, int ldx, int m, int n, int k, float w_scale,
           float* __restrict__ y, int ldy) {
    extern __shared__ uint32_t staged[]; // kWarpsPerBlock rows of row_bytes / 4 words (kStaged)
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const size_t row_bytes = Fmt::row_bytes(k);
    const uint8_t* wr = w + static_cast<size_t>(min(row, n - 1)) * row_bytes;
    if constexpr (kStaged) {
        const int words = static_cast<int>(row_bytes / 4);
        uint32_t* mine = staged + static_cast<size_t>(threadIdx.x / 32) * words;
        const auto* src = reinterpret_cast<const uint32_t*>(wr);
        if (row < n)
            for (int i = lane; i < words; i += 32) cp_async4(mine + i, src + i);
        wr = reinterpret_cast<const uint8_t*>(mine);
    }
    griddep_enter();
    const int t0 = blockIdx.y * MT;
    const int mt = min(MT, m - t0);
    if (row >= n) return;
    if constexpr (kStaged) {
        cp_async_wait_all();
        __syncwarp();
    }
    const float* xt = x + static_cast<size_t>(t0) * ldx;
    float acc[MT];
#pragma unroll
    for (int t = 0; t < MT; ++t) acc[t] = 0.0f;
    const int chunks = (k + Fmt::kChunk - 1) / Fmt::kChunk;
    for (int c = 0; c < chunks; ++c) {
        Fmt::for_each(wr, c, lane, k, [&](int kk, float v) {
#pragma unroll
            for (int t = 0; t < MT; ++t)
                if (t < mt) acc[t] = fmaf(v, __ldg(xt + static_cast<size_t>(t) * ldx + kk), acc[t]);
        });
    }
#pragma unroll
    for (int t = 0; t < MT; ++t) {
        if (t >= mt) break;
        const float s = warp_sum(acc[t]);
        if (lane == 0) y[static_cast<size_t>(t0 + t) * ldy + row] = s * w_scale;
    }
}

// Shared memory a block stages (0: the rows do not fit, or are not whole words).
template <class Fmt>
size_t staged_bytes(int k) {
    constexpr size_t kMaxStaged = 48 * 1024; // without opting in to more per block
    const size_t row = Fmt::row_bytes(k);
    return row % 4 == 0 && row * kWarpsPerBlock <= kMaxStaged ? row * kWarpsPerBlock : 0;
}

template <class Fmt, int MT>
void launch(const bitnet_matmul_args& a, const Plugin& p) {
    const dim3 grid(ceil_div(a.n, kWarpsPerBlock), ceil_div(a.m, MT));
    const auto* w = static_cast<const uint8_t*>(a.w->packed);
    if (const size_t smem = p.staged_head ? staged_bytes<Fmt>(a.k) : 0; smem > 0)
        launch_kernel(p.pdl, float_gemv<Fmt, MT, true>, grid, kWarpsPerBlock * 32, smem, p.stream, w, a.x_f32, a.ldx,
                      a.m, a.n, a.k, a.w->scale, a.y, a.ldy);
    else
        launch_kernel(p.pdl, float_gemv<Fmt, MT, false>, grid, kWarpsPerBlock * 32, 0, p.stream, w, a.x_f32, a.ldx,
                      a.m, a.n, a.k, a.w->scale, a.y, a.ldy);
}

template <class Fmt>
bitnet_status run_float(void* plugin, const void* args, const char* what, int32_t block) {
    return run_op<bitnet_matmul_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_matmul_args, ldy),
        [&](Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
            if (a.m <= 0 || a.n <= 0 || a.k <= 0 || a.k % block != 0) return fail(p, what, "bad m, n or k");
            if (a.act_type != BITNET_ACT_F32 || a.x_f32 == nullptr || a.ldx < a.k || a.w == nullptr ||
                a.y == nullptr || a.ldy < a.n)
                return fail(p, what, "bad act_type, x_f32, ldx, w, y or ldy");
            if (a.w->packed == nullptr) return fail(p, what, "weights were not uploaded (pack_weights)");
            if (!on_device(p, a.x_f32, ((size_t(a.m) - 1) * a.ldx + a.k) * 4) ||
                !on_device(p, a.y, ((size_t(a.m) - 1) * a.ldy + a.n) * 4) ||
                !on_device(p, a.w->packed, Fmt::row_bytes(a.k) * a.n))
                return not_on_device(p, what, "x, y or the packed weights are not device memory of this plugin");
            if (a.m == 1) launch<Fmt, 1>(a, p);
            else if (a.m <= 4) launch<Fmt, 4>(a, p);
            else launch<Fmt, 16>(a, p);
            return check_launch(p, what);
        });
}

} // namespace

bitnet_status run_matmul_f32(void* plugin, const void* args, void*) noexcept {
    return run_float<F32>(plugin, args, "matmul_f32_f32_gemv16__cuda", 1);
}
bitnet_status run_matmul_f16(void* plugin, const void* args, void*) noexcept {
    return run_float<F16>(plugin, args, "matmul_f16_f32_gemv16__cuda", 1);
}
bitnet_status run_matmul_bf16(void* plugin, const void* args, void*) noexcept {
    return run_float<BF16>(plugin, args, "matmul_bf16_f32_gemv16__cuda", 1);
}
bitnet_status run_matmul_q8_0(void* plugin, const void* args, void*) noexcept {
    return run_float<Q8_0>(plugin, args, "matmul_q8_0_f32_gemv16__cuda", 32);
}
bitnet_status run_matmul_q6_k(void* plugin, const void* args, void*) noexcept {
    return run_float<Q6_K>(plugin, args, "matmul_q6_k_f32_gemv16__cuda", 256);
}

} // namespace bitnet::cuda
