// Ternary BitLinear on the GPU: Y[M,N] = X[M,K] · W[N,K]ᵀ with int8 activations and the 2-bit
// device layout of cuda_plugin.hpp. One token (decode): a dp4a GEMV, a warp per row, reading each
// weight once. Several tokens (batched decode, prefill): int8 tensor cores (mma m16n8k32), the
// 2-bit codes widened to int8 {-1, 0, +1} in registers, so the weights are still read once per
// tile of up to 64 tokens and the arithmetic no longer bounds the step.
//
// Codes are stored +1 (0, 1, 2): dp4a gives Σ(c+1)·q, and Σq (another dp4a with 0x01010101,
// shared by the R rows) is subtracted; the integer dot stays exact, so I2_S is bit-identical to
// the scalar reference: y = (float)dot / s · w_scale. TQ formats sum per-32-weight partials in
// f32 times (d_w · d_a) of their 256-block, which differs from ggml only in summation order.
#include "cuda_common.cuh"
#include "cuda_plugin.hpp"

#include <type_traits>

namespace bitnet::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// Σ (c+1)·q over 16 weights (one word) against 16 activation bytes; sx += Σ q.
__device__ __forceinline__ int dot16(uint32_t w, const int4& a, int acc) {
    acc = __dp4a(static_cast<int>(w & 0x03030303u), a.x, acc);
    acc = __dp4a(static_cast<int>((w >> 2) & 0x03030303u), a.y, acc);
    acc = __dp4a(static_cast<int>((w >> 4) & 0x03030303u), a.z, acc);
    return __dp4a(static_cast<int>((w >> 6) & 0x03030303u), a.w, acc);
}
__device__ __forceinline__ int sum16(const int4& a, int acc) {
    constexpr int kOnes = 0x01010101;
    return __dp4a(kOnes, a.w, __dp4a(kOnes, a.z, __dp4a(kOnes, a.y, __dp4a(kOnes, a.x, acc))));
}

// One weight of a launch (the call's own, then ABI 1.5's parts), and the first block along the
// grid's x dimension that computes it: the blocks of all parts tile one grid.
struct TernaryPart {
    const uint32_t* w;
    const float* wscales; // TQ block scales (nullptr for I2_S)
    float* y;
    float w_scale;
    int n, ldy, block0;
};
constexpr int kMaxParts = 1 + BITNET_MATMUL_MAX_PARTS;
struct TernaryParts {
    TernaryPart p[kMaxParts];
    int count;
    int accumulate; // y += product (ABI 1.5) instead of y = product
};

// Writes one output, or adds it in (one f32 addition, as BITNET_OP_ADD).
__device__ __forceinline__ void store_output(float* out, float v, int accumulate) {
    *out = accumulate ? __fadd_rn(*out, v) : v;
}

// The part this block computes, and the block's index within it. Constant indices only, so the
// parts stay in the parameter bank instead of a local copy.
__device__ __forceinline__ TernaryPart part_of_block(const TernaryParts& parts, int& local_block) {
    TernaryPart me = parts.p[0];
#pragma unroll
    for (int j = 1; j < kMaxParts; ++j)
        if (j < parts.count && static_cast<int>(blockIdx.x) >= parts.p[j].block0) me = parts.p[j];
    local_block = static_cast<int>(blockIdx.x) - me.block0;
    return me;
}

// Pairs (32 weights) per lane whose weights a decode GEMV loads before it waits for the previous
// kernel: they do not depend on it, so under programmatic dependent launch their bytes stream in
// while that kernel (a one-block norm, ~3 us) finishes, instead of after. 8 covers K <= 8192 (every
// 2B-4T matmul) in 16 registers per row.
constexpr int kEarlyPairs = 8;

template <int R, int MT, bool kBlockScales, int kEarly>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
ternary_gemv(const TernaryParts parts, const int8_t* __restrict__ x, size_t ldq, const float* __restrict__ xs, int m,
             int k) {
    int local_block;
    const TernaryPart me = part_of_block(parts, local_block);
    const int lane = threadIdx.x % 32;
    const int row0 = (local_block * kWarpsPerBlock + threadIdx.x / 32) * R;
    const int t0 = blockIdx.y * MT;
    if (row0 >= me.n) {
        griddep_enter();
        return;
    }
    const int pairs = k / 32, nb = (k + 255) / 256;
    const uint2* wr[R];
#pragma unroll
    for (int r = 0; r < R; ++r)
        wr[r] = reinterpret_cast<const uint2*>(me.w + static_cast<size_t>(min(row0 + r, me.n - 1)) * (k / 16));
    auto block_scale = [&](int r, int p) {
        return __ldg(me.wscales + static_cast<size_t>(min(row0 + r, me.n - 1)) * nb + p / 8);
    };

    // The early weights (kEarly pairs per lane), loaded before waiting on the previous kernel.
    uint2 early[kEarly > 0 ? kEarly : 1][R];
    float early_scale[kEarly > 0 && kBlockScales ? kEarly : 1][R];
#pragma unroll
    for (int e = 0; e < kEarly; ++e)
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int p = lane + 32 * e;
            early[e][r] = p < pairs ? __ldg(wr[r] + p) : make_uint2(0u, 0u);
            if constexpr (kBlockScales) early_scale[e][r] = p < pairs ? block_scale(r, p) : 0.0f;
        }
    griddep_enter();
    const int mt = min(MT, m - t0);

    using Acc = std::conditional_t<kBlockScales, float, int>;
    Acc acc[R][MT];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
        for (int t = 0; t < MT; ++t) acc[r][t] = 0;

    // Pair p's weights (wv, and block scales wb) against every token's activations.
    auto accumulate = [&](int p, const uint2 (&wv)[R], const float (&wb)[R]) {
#pragma unroll
        for (int t = 0; t < MT; ++t) {
            if (t >= mt) break;
            const int4* xp = reinterpret_cast<const int4*>(x + static_cast<size_t>(t0 + t) * ldq) + 2 * p;
            const int4 a = __ldg(xp), b = __ldg(xp + 1);
            const int sx = sum16(b, sum16(a, 0));
            float da = 0.0f;
            if constexpr (kBlockScales) da = __ldg(xs + static_cast<size_t>(t0 + t) * nb + p / 8);
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const int d = dot16(wv[r].y, b, dot16(wv[r].x, a, 0)) - sx;
                if constexpr (kBlockScales) acc[r][t] += static_cast<float>(d) * (da * wb[r]);
                else acc[r][t] += d;
            }
        }
    };
#pragma unroll
    for (int e = 0; e < kEarly; ++e) {
        const int p = lane + 32 * e;
        if (p >= pairs) break;
        float wb[R];
#pragma unroll
        for (int r = 0; r < R; ++r) wb[r] = kBlockScales ? early_scale[kBlockScales ? e : 0][r] : 0.0f;
        accumulate(p, early[e], wb);
    }
    for (int p = lane + 32 * kEarly; p < pairs; p += 32) {
        uint2 wv[R];
        float wb[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            wv[r] = __ldg(wr[r] + p);
            wb[r] = kBlockScales ? block_scale(r, p) : 0.0f;
        }
        accumulate(p, wv, wb);
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
        for (int t = 0; t < MT; ++t) {
            if (t >= mt) break;
            const Acc s = warp_sum(acc[r][t]);
            if (lane == 0 && row0 + r < me.n) {
                float* out = me.y + static_cast<size_t>(t0 + t) * me.ldy + row0 + r;
                if constexpr (kBlockScales) store_output(out, s * me.w_scale, parts.accumulate);
                else store_output(out, static_cast<float>(s) / __ldg(xs + t0 + t) * me.w_scale, parts.accumulate);
            }
        }
}

// ---- Decode GEMV with its BitLinear's norm in front (ABI 1.5 prologue; I8_ROW, one token) ----
// Every block normalizes and quantizes the input row itself into shared memory (the same float
// steps as norm_quantize_regs, the sum of squares in double), then runs the GEMV from there: the
// NORM_QUANTIZE launch in front of each BitLinear is gone, and the weights, loaded before the wait
// as in ternary_gemv, stream in while the previous kernel finishes. 8 warps of 2 rows make a block
// of 16 rows, so the row is read (from L2) once per 16 outputs: gate|up reads it 864 times, ~9 MB.
constexpr int kNormGemvWarps = 8, kNormGemvRows = 2;
constexpr int kNormGemvMaxK = 32 * kEarlyPairs * 32; // every pair loaded early; 5 * K bytes of smem

template <int kEarly>
__global__ void __launch_bounds__(kNormGemvWarps * 32)
ternary_gemv_norm(const TernaryParts parts, const float* __restrict__ x, const float* __restrict__ up, int ffn_kind,
                  const float* __restrict__ gamma, float eps, int k) {
    extern __shared__ float norm_row[]; // k floats, then the k quantized values (16-byte aligned)
    int8_t* q = reinterpret_cast<int8_t*>(norm_row + k);
    constexpr int R = kNormGemvRows;
    int local_block;
    const TernaryPart me = part_of_block(parts, local_block);
    const int lane = threadIdx.x % 32;
    const int row0 = (local_block * kNormGemvWarps + threadIdx.x / 32) * R;
    const bool has_rows = row0 < me.n;
    const int pairs = k / 32;
    const uint2* wr[R];
#pragma unroll
    for (int r = 0; r < R; ++r)
        wr[r] = reinterpret_cast<const uint2*>(me.w + static_cast<size_t>(min(row0 + r, me.n - 1)) * (k / 16));
    uint2 early[kEarly > 0 ? kEarly : 1][R];
#pragma unroll
    for (int e = 0; e < kEarly; ++e)
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int p = lane + 32 * e;
            early[e][r] = has_rows && p < pairs ? __ldg(wr[r] + p) : make_uint2(0u, 0u);
        }
    griddep_enter();

    // The prologue: every warp takes part (block-wide reductions), rows of its own or not.
    double ss = 0.0;
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        float v = x[i];
        if (up != nullptr) v = ffn_gate_up(ffn_kind, v, up[i]);
        norm_row[i] = v;
        ss += static_cast<double>(__fmul_rn(v, v));
    }
    const double total = block_allreduce(ss, 0.0, [](double a, double b) { return a + b; });
    const float scale = 1.0f / sqrtf(static_cast<float>(total / k) + eps);
    float amax = 0.0f;
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        const float o = __fmul_rn(norm_row[i], scale);
        const float h = gamma != nullptr ? __fmul_rn(o, gamma[i]) : o;
        norm_row[i] = h;
        amax = fmaxf(amax, fabsf(h));
    }
    amax = block_allreduce(amax, 0.0f, [](float a, float b) { return fmaxf(a, b); });
    const float qs = static_cast<float>(127.0 / fmax(1e-5, static_cast<double>(amax)));
    for (int i = threadIdx.x; i < k; i += blockDim.x)
        q[i] = static_cast<int8_t>(static_cast<int>(fminf(fmaxf(rintf(__fmul_rn(norm_row[i], qs)), -128.0f), 127.0f)));
    __syncthreads();
    if (!has_rows) return;

    int acc[R] = {};
    auto dot_pair = [&](int p, const uint2 (&wv)[R]) {
        const int4* xp = reinterpret_cast<const int4*>(q) + 2 * p;
        const int4 a = xp[0], b = xp[1];
        const int sx = sum16(b, sum16(a, 0));
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] += dot16(wv[r].y, b, dot16(wv[r].x, a, 0)) - sx;
    };
#pragma unroll
    for (int e = 0; e < kEarly; ++e) {
        const int p = lane + 32 * e;
        if (p >= pairs) break;
        dot_pair(p, early[e]);
    }
    for (int p = lane + 32 * kEarly; p < pairs; p += 32) {
        uint2 wv[R];
#pragma unroll
        for (int r = 0; r < R; ++r) wv[r] = __ldg(wr[r] + p);
        dot_pair(p, wv);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int s = warp_sum(acc[r]);
        if (lane == 0 && row0 + r < me.n)
            store_output(me.y + row0 + r, static_cast<float>(s) / qs * me.w_scale, parts.accumulate);
    }
}

// ---- Tensor-core path (M > 1) ----
// Warps per block split K inside a block of 16 output rows: batched decode (NT <= 2) has few
// blocks (40 for the K/V projections) and needs the deeper split to fill the GPU; prefill tiles
// (NT 4, 8) have many blocks and larger reduction buffers.
template <int NT>
constexpr int mma_warps() {
    return NT <= 2 ? 16 : 4;
}

// Four codes c+1 in {0, 1, 2} (one per byte) to int8 c: 0 -> 0xff, 1 -> 0, 2 -> 1. Bit 0 of the
// result is "code is not 1"; bits 1-7 are set only for code 0.
__device__ __forceinline__ uint32_t codes_to_s8(uint32_t codes) {
    const uint32_t not_one = ~codes & 0x01010101u;
    const uint32_t is_zero = ~(codes | (codes >> 1)) & 0x01010101u;
    return not_one | (is_zero * 0xfeu);
}

// D += A·B for A 16x32 int8 (row-major: output rows x K), B 32x8 int8 (tokens as columns).
// Fragments (PTX ISA, m16n8k32 .s8): a[0]/a[2] row g, a[1]/a[3] row g+8, K 4t..4t+3 (+16 for
// a[2], a[3]); b0 K 4t.., b1 K 16+4t.., column g; d[0..1] row g, columns 2t, 2t+1; d[2..3] row g+8.
__device__ __forceinline__ void mma_s8(int (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// A block owns 16 output rows and NT x 8 tokens; its warps take interleaved 128-wide K
// chunks (each chunk is one 32-byte sector per weight row) and sum through shared memory. I2_S
// accumulates in int32 (exact, so bit-identical to the scalar reference); the TQ formats scale
// each chunk's exact integer dot by (d_a · d_w) of its 256-block and sum in f32.
template <int NT, bool kBlockScales, int kMmaWarps = mma_warps<NT>()>
__global__ void __launch_bounds__(kMmaWarps * 32)
ternary_mma(const TernaryParts parts, const int8_t* __restrict__ x, size_t ldq, const float* __restrict__ xs, int m,
            int k) {
    int local_block;
    const TernaryPart me = part_of_block(parts, local_block);
    const uint32_t* __restrict__ w = me.w;
    const float* __restrict__ wscales = me.wscales;
    const int n = me.n;
    using Acc = std::conditional_t<kBlockScales, float, int>;
    __shared__ Acc red[kMmaWarps][NT][4][32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    const int row0 = local_block * 16, tok0 = blockIdx.y * 8 * NT;
    const int words = k / 16, chunks = k / 128, nb = k / 256;
    const int ra = min(row0 + g, n - 1), rb = min(row0 + g + 8, n - 1);
    const uint4* wa = reinterpret_cast<const uint4*>(w + static_cast<size_t>(ra) * words);
    const uint4* wb = reinterpret_cast<const uint4*>(w + static_cast<size_t>(rb) * words);
    // The warp's first chunk of weights before waiting on the previous kernel (see kEarlyPairs).
    uint4 first[4] = {};
    if (warp < chunks) {
        first[0] = __ldg(wa + 2 * warp);
        first[1] = __ldg(wa + 2 * warp + 1);
        first[2] = __ldg(wb + 2 * warp);
        first[3] = __ldg(wb + 2 * warp + 1);
    }
    griddep_enter();
    const int8_t* xt[NT];
#pragma unroll
    for (int j = 0; j < NT; ++j) xt[j] = x + static_cast<size_t>(min(tok0 + 8 * j + g, m - 1)) * ldq;

    Acc acc[NT][4];
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[j][e] = 0;

    for (int c = warp; c < chunks; c += kMmaWarps) {
        const bool early = c == warp;
        const uint4 a0 = early ? first[0] : __ldg(wa + 2 * c), a1 = early ? first[1] : __ldg(wa + 2 * c + 1);
        const uint4 b0 = early ? first[2] : __ldg(wb + 2 * c), b1 = early ? first[3] : __ldg(wb + 2 * c + 1);
        const uint32_t ca[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const uint32_t cb[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
        int part[NT][4];
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) part[j][e] = 0;
#pragma unroll
        for (int s = 0; s < 4; ++s) {
            const uint32_t af[4] = {codes_to_s8((ca[2 * s] >> (2 * t)) & 0x03030303u),
                                    codes_to_s8((cb[2 * s] >> (2 * t)) & 0x03030303u),
                                    codes_to_s8((ca[2 * s + 1] >> (2 * t)) & 0x03030303u),
                                    codes_to_s8((cb[2 * s + 1] >> (2 * t)) & 0x03030303u)};
            const int kk = c * 128 + s * 32 + 4 * t;
#pragma unroll
            for (int j = 0; j < NT; ++j)
                mma_s8(part[j], af, __ldg(reinterpret_cast<const uint32_t*>(xt[j] + kk)),
                       __ldg(reinterpret_cast<const uint32_t*>(xt[j] + kk + 16)));
        }
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            if constexpr (kBlockScales) {
                const int blk = c / 2;
                const int ta = min(tok0 + 8 * j + 2 * t, m - 1), tb = min(tok0 + 8 * j + 2 * t + 1, m - 1);
                const float da0 = __ldg(xs + static_cast<size_t>(ta) * nb + blk);
                const float da1 = __ldg(xs + static_cast<size_t>(tb) * nb + blk);
                const float wa_d = __ldg(wscales + static_cast<size_t>(ra) * nb + blk);
                const float wb_d = __ldg(wscales + static_cast<size_t>(rb) * nb + blk);
                acc[j][0] += static_cast<float>(part[j][0]) * (da0 * wa_d);
                acc[j][1] += static_cast<float>(part[j][1]) * (da1 * wa_d);
                acc[j][2] += static_cast<float>(part[j][2]) * (da0 * wb_d);
                acc[j][3] += static_cast<float>(part[j][3]) * (da1 * wb_d);
            } else {
#pragma unroll
                for (int e = 0; e < 4; ++e) acc[j][e] += part[j][e];
            }
        }
    }
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) red[warp][j][e][lane] = acc[j][e];
    __syncthreads();
    // Each thread finishes NT of the block's 16 x 8NT outputs.
    for (int idx = threadIdx.x; idx < NT * 4 * 32; idx += kMmaWarps * 32) {
        const int j = idx / 128, e = (idx / 32) % 4, ln = idx % 32;
        Acc sum = red[0][j][e][ln];
#pragma unroll
        for (int v = 1; v < kMmaWarps; ++v) sum += red[v][j][e][ln];
        const int row = row0 + ln / 4 + (e >= 2 ? 8 : 0);
        const int tok = tok0 + 8 * j + 2 * (ln % 4) + (e & 1);
        if (row >= n || tok >= m) continue;
        float* out = me.y + static_cast<size_t>(tok) * me.ldy + row;
        if constexpr (kBlockScales) store_output(out, sum * me.w_scale, parts.accumulate);
        else store_output(out, static_cast<float>(sum) / __ldg(xs + tok) * me.w_scale, parts.accumulate);
    }
}

// Lays the parts' blocks out along one grid (rows_per_block output rows each); returns the blocks.
unsigned tile_parts(TernaryParts& parts, int rows_per_block) {
    int blocks = 0;
    for (int i = 0; i < parts.count; ++i) {
        parts.p[i].block0 = blocks;
        blocks += static_cast<int>(ceil_div(parts.p[i].n, rows_per_block));
    }
    return static_cast<unsigned>(blocks);
}

template <int NT, bool kBlockScales>
void launch_mma(const bitnet_matmul_args& a, TernaryParts parts, const Plugin& p) {
    const dim3 grid(tile_parts(parts, 16), ceil_div(a.m, 8 * NT));
    launch_kernel(p.pdl, ternary_mma<NT, kBlockScales>, grid, mma_warps<NT>() * 32, 0, p.stream, parts, a.x_q->data,
                  a.x_q->row_stride, a.x_q->scales, a.m, a.k);
}

template <bool kBlockScales>
void launch_tokens(const bitnet_matmul_args& a, const TernaryParts& parts, const Plugin& p) {
    if (a.m <= 8) launch_mma<1, kBlockScales>(a, parts, p);
    else if (a.m <= 16) launch_mma<2, kBlockScales>(a, parts, p);
    else if (a.m <= 32) launch_mma<4, kBlockScales>(a, parts, p);
    else launch_mma<8, kBlockScales>(a, parts, p);
}

template <bool kBlockScales>
void launch_gemv(const bitnet_matmul_args& a, TernaryParts parts, const Plugin& p) {
    constexpr int R = 1;
    const dim3 grid(tile_parts(parts, kWarpsPerBlock * R), 1);
    if (p.early_weights)
        launch_kernel(p.pdl, ternary_gemv<R, 1, kBlockScales, kEarlyPairs>, grid, kWarpsPerBlock * 32, 0, p.stream,
                      parts, a.x_q->data, a.x_q->row_stride, a.x_q->scales, a.m, a.k);
    else
        launch_kernel(p.pdl, ternary_gemv<R, 1, kBlockScales, 0>, grid, kWarpsPerBlock * 32, 0, p.stream, parts,
                      a.x_q->data, a.x_q->row_stride, a.x_q->scales, a.m, a.k);
}

// One launch for a call with a prologue: one token, I8_ROW, K small enough for shared memory.
bool norm_gemv_fits(const bitnet_matmul_args& a, bitnet_act_type act, const Plugin& p) {
    return p.norm_gemv && a.m == 1 && act == BITNET_ACT_I8_ROW && a.k <= kNormGemvMaxK;
}

void launch_norm_gemv(const bitnet_matmul_args& a, TernaryParts parts, const bitnet_norm_quantize_args& pro,
                      const Plugin& p) {
    const dim3 grid(tile_parts(parts, kNormGemvWarps * kNormGemvRows), 1);
    const size_t smem = size_t(a.k) * (sizeof(float) + 1);
    const float* up = sdk::norm_quantize_up(pro);
    launch_kernel(p.pdl, ternary_gemv_norm<kEarlyPairs>, grid, kNormGemvWarps * 32, smem, p.stream, parts, pro.x, up,
                  int(up != nullptr ? pro.ffn_kind : BITNET_FFN_RELU2), pro.weight, pro.eps, a.k);
}

bitnet_status run_ternary(void* plugin, const void* args, const char* what, bitnet_act_type act, int32_t block) {
    return run_op<bitnet_matmul_args>(
        plugin, args, what, CUDA_SIZE_UPTO(bitnet_matmul_args, ldy),
        [&](Plugin& p, const bitnet_matmul_args& a) -> bitnet_status {
            if (a.m <= 0 || a.k <= 0 || a.k % block != 0) return fail(p, what, "bad m or k");
            if (a.act_type != act || a.x_q == nullptr) return fail(p, what, "bad act_type or x_q");
            const bitnet_qact& q = *a.x_q;
            // int4 activation loads need 16-byte aligned rows.
            if (q.row_stride % 16 != 0 || reinterpret_cast<uintptr_t>(q.data) % 16 != 0)
                return fail(p, what, "x_q rows must be 16-byte aligned");
            const size_t nscales = act == BITNET_ACT_I8_ROW ? size_t(a.m) : size_t(a.m) * ((a.k + 255) / 256);
            if (!on_device(p, q.data, q.row_stride * (a.m - 1) + a.k) || !on_device(p, q.scales, nscales * 4))
                return not_on_device(p, what, "x_q is not device memory of this plugin");
            const bool scaled = act == BITNET_ACT_I8_B256;
            // The call's own weight, then its parts (ABI 1.5), each checked as a call of its own.
            const int32_t n_parts = sdk::matmul_parts(a);
            if (n_parts < 0 || n_parts > BITNET_MATMUL_MAX_PARTS) return fail(p, what, "bad n_parts");
            TernaryParts parts{};
            parts.count = 1 + n_parts;
            parts.accumulate = sdk::matmul_accumulates(a) ? 1 : 0;
            for (int i = 0; i < parts.count; ++i) {
                const bitnet_weights* w = i == 0 ? a.w : a.parts[i - 1].w;
                const int32_t n = i == 0 ? a.n : a.parts[i - 1].n, ldy = i == 0 ? a.ldy : a.parts[i - 1].ldy;
                float* y = i == 0 ? a.y : a.parts[i - 1].y;
                if (n <= 0 || w == nullptr || y == nullptr || ldy < n) return fail(p, what, "bad n, w, y or ldy");
                if (w->packed == nullptr) return fail(p, what, "weights were not packed (pack_weights)");
                if (!on_device(p, y, (size_t(a.m) - 1) * ldy * 4 + size_t(n) * 4) || !on_device(p, w->packed, 1))
                    return not_on_device(p, what, "y or the packed weights are not device memory of this plugin");
                const auto* codes = static_cast<const uint32_t*>(w->packed);
                const auto* wscales = scaled ? reinterpret_cast<const float*>(static_cast<const uint8_t*>(w->packed) +
                                                                              ternary_scales_offset(n, a.k))
                                             : nullptr;
                parts.p[i] = {codes, wscales, y, w->scale, n, ldy, 0};
            }
            // A prologue (ABI 1.5): inside the GEMV where it fits, else NORM_QUANTIZE first.
            if (const bitnet_norm_quantize_args* pro = sdk::matmul_prologue(a)) {
                if (const char* why = sdk::matmul_prologue_error(a, *pro)) return fail(p, what, why);
                if (norm_gemv_fits(a, act, p)) {
                    const float* up = sdk::norm_quantize_up(*pro);
                    if (pro->x == nullptr || !on_device(p, pro->x, size_t(a.k) * 4) ||
                        (up != nullptr && !on_device(p, up, size_t(a.k) * 4)) ||
                        (pro->weight != nullptr && !on_device(p, pro->weight, size_t(a.k) * 4)))
                        return not_on_device(p, what, "the prologue's x, up or weight is not device memory of this plugin");
                    launch_norm_gemv(a, parts, *pro, p);
                    return check_launch(p, what);
                }
                const bitnet_status st = act == BITNET_ACT_I8_ROW ? run_norm_quantize_i8row(plugin, pro, nullptr)
                                                                  : run_norm_quantize_i8b256(plugin, pro, nullptr);
                if (st != BITNET_OK) return st;
            }
            if (a.m == 1) {
                if (scaled) launch_gemv<true>(a, parts, p);
                else launch_gemv<false>(a, parts, p);
            } else if (scaled) {
                launch_tokens<true>(a, parts, p); // K is a multiple of 128: whole chunks
            } else {
                launch_tokens<false>(a, parts, p);
            }
            return check_launch(p, what);
        });
}

} // namespace

bitnet_status run_matmul_i2s(void* plugin, const void* args, void*) noexcept {
    return run_ternary(plugin, args, "matmul_i2s_i8row_gemv16__cuda", BITNET_ACT_I8_ROW, 128);
}
bitnet_status run_matmul_tq2_0(void* plugin, const void* args, void*) noexcept {
    return run_ternary(plugin, args, "matmul_tq2_0_i8b256_gemv16__cuda", BITNET_ACT_I8_B256, 256);
}
bitnet_status run_matmul_tq1_0(void* plugin, const void* args, void*) noexcept {
    return run_ternary(plugin, args, "matmul_tq1_0_i8b256_gemv16__cuda", BITNET_ACT_I8_B256, 256);
}

} // namespace bitnet::cuda
