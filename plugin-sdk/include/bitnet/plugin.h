/*
 * bitnet/plugin.h — the one and only ABI between the bitnet-runtime host and its backend plugins.
 *
 * A plugin is a shared object that exports exactly one C symbol:
 *
 *     const bitnet_plugin_descriptor* bitnet_plugin_entry(void);
 *
 * Rules every struct and call follows (ONNX Runtime's plugin-EP discipline):
 *  - Every struct starts with `struct_size` (sizeof as the writer compiled it). Growth is add-only:
 *    new members go at the end, and a reader checks `struct_size` before touching a member added
 *    later (see BITNET_HAS_MEMBER). Members carry a "since" tag naming the ABI minor version.
 *  - The host refuses a plugin whose ABI *major* differs from its own. A plugin built against a newer
 *    minor loads in an older host (the host ignores members it does not know); an older-minor plugin
 *    loads in a newer host (the host sees the smaller struct_size and treats the members as NULL).
 *  - Optional function slots may be NULL; the comment next to each says what the host does then.
 *  - Nothing crosses the boundary as a C++ exception, longjmp or abort: every call that can fail
 *    returns a bitnet_status and may explain itself through the host's log callback.
 *  - Ownership is spelled out per call. Strings returned by a plugin live as long as the plugin
 *    instance (or, for the descriptor, as long as the shared object stays loaded).
 */
#ifndef BITNET_PLUGIN_H
#define BITNET_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BITNET_PLUGIN_ABI_VERSION_MAJOR 1
#define BITNET_PLUGIN_ABI_VERSION_MINOR 5
/* Packed as (major << 16) | minor. */
#define BITNET_PLUGIN_ABI_VERSION \
    ((uint32_t)((BITNET_PLUGIN_ABI_VERSION_MAJOR << 16) | BITNET_PLUGIN_ABI_VERSION_MINOR))
#define BITNET_ABI_MAJOR(v) ((uint32_t)(v) >> 16)
#define BITNET_ABI_MINOR(v) ((uint32_t)(v) & 0xffffu)

/* The name of the single exported symbol the host looks up. */
#define BITNET_PLUGIN_ENTRY_SYMBOL "bitnet_plugin_entry"

#if defined(_WIN32)
#define BITNET_PLUGIN_EXPORT __declspec(dllexport)
#else
#define BITNET_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* True when a struct written with size `size` contains `member` of type `type`. */
#define BITNET_HAS_MEMBER(ptr, type, member) \
    ((ptr) != NULL && (size_t)(ptr)->struct_size >= offsetof(type, member) + sizeof(((type*)0)->member))

/* ------------------------------------------------------------------------------------------------
 * Status codes. BITNET_OK is zero; everything else is a failure the host reports and survives.
 * ---------------------------------------------------------------------------------------------- */
typedef enum bitnet_status {
    BITNET_OK = 0,
    BITNET_ERR_INVALID_ARGUMENT = 1, /* a pointer, shape or struct_size the callee cannot accept */
    BITNET_ERR_UNSUPPORTED = 2,      /* valid request, but not something this kernel/plugin does */
    BITNET_ERR_OUT_OF_MEMORY = 3,
    BITNET_ERR_DEVICE = 4,           /* the device (driver, GPU) reported a failure */
    BITNET_ERR_INTERNAL = 5          /* a bug or unexpected condition inside the plugin */
} bitnet_status;

typedef enum bitnet_log_level {
    BITNET_LOG_DEBUG = 0,
    BITNET_LOG_INFO = 1,
    BITNET_LOG_WARN = 2,
    BITNET_LOG_ERROR = 3
} bitnet_log_level;

/* ------------------------------------------------------------------------------------------------
 * Vocabulary shared by kernels and the host.
 * ---------------------------------------------------------------------------------------------- */

/* Which operation a kernel computes. The argument struct for each op is named next to it. */
typedef enum bitnet_op {
    BITNET_OP_NONE = 0,
    BITNET_OP_MATMUL = 1,        /* bitnet_matmul_args: Y[M,N] = X[M,K] · W[N,K]^T (weights row-major by output) */
    BITNET_OP_QUANTIZE_ACT = 2,  /* bitnet_quantize_args: f32 activations -> quantized activations */
    BITNET_OP_RMSNORM = 3,       /* bitnet_rmsnorm_args */
    BITNET_OP_ROPE = 4,          /* bitnet_rope_args */
    BITNET_OP_ATTENTION = 5,     /* bitnet_attention_args: causal attention over an F16 KV cache */
    BITNET_OP_FFN_ACT = 6,       /* bitnet_ffn_act_args: relu(g)^2*u or silu(g)*u */
    BITNET_OP_ADD = 7,           /* bitnet_add_args: y += x (residual) */
    BITNET_OP_KV_STORE = 8,      /* bitnet_kv_store_args: f32 K/V rows -> F16 cache (since 1.1) */
    BITNET_OP_NORM_QUANTIZE = 9, /* bitnet_norm_quantize_args: [residual add,] RMSNorm, quantize (since 1.2) */
    BITNET_OP_ATTENTION_SEQS = 10, /* bitnet_attention_args, rows of several sequences (since 1.3) */
    BITNET_OP_KV_STORE_SEQS = 11,  /* bitnet_kv_store_args, rows of several sequences (since 1.3) */
    BITNET_OP_COUNT_ = 12
} bitnet_op;

/* Weight storage formats. Values are stable ABI numbers (not GGML type ids). */
typedef enum bitnet_weight_format {
    BITNET_WF_NONE = 0,  /* op has no weights */
    BITNET_WF_F32 = 1,
    BITNET_WF_F16 = 2,
    BITNET_WF_BF16 = 3,
    BITNET_WF_Q8_0 = 4,  /* ggml Q8_0: blocks of 32: f16 d, 32 x int8 */
    BITNET_WF_Q6_K = 5,  /* ggml Q6_K: super-blocks of 256 (210 bytes) */
    BITNET_WF_I2_S = 6,  /* Microsoft bitnet.cpp x86 I2_S: 128-weight blocks of 32 bytes, one f32 scale per tensor */
    BITNET_WF_TQ1_0 = 7, /* ggml TQ1_0: 256-blocks, 54 bytes */
    BITNET_WF_TQ2_0 = 8, /* ggml TQ2_0: 256-blocks, 66 bytes */
    BITNET_WF_COUNT_ = 9
} bitnet_weight_format;

/* Activation representations that flow into a kernel. */
typedef enum bitnet_act_type {
    BITNET_ACT_NONE = 0,
    BITNET_ACT_F32 = 1,
    /* int8 with one f32 scale per row (token): q = round_half_even(x * s), s = 127/max|x|
     * (bitnet.cpp's BitLinear input). Layout: bitnet_qact.data = M rows of K int8 (row stride
     * `row_stride` bytes), bitnet_qact.scales = M floats (s, *not* 1/s). */
    BITNET_ACT_I8_ROW = 2,
    /* int8 with one f32 scale per 256-block (llama.cpp's Q8_K input to TQ1_0/TQ2_0): per block,
     * m = the signed value of largest |x| (first on ties), iscale = -127/m,
     * q = min(127, round_half_even(iscale*x)), d = 1/iscale. scales hold d (M * ceil(K/256) floats,
     * row-major), and the partial last block uses the same rule over the values present. */
    BITNET_ACT_I8_B256 = 3,
    BITNET_ACT_COUNT_ = 4
} bitnet_act_type;

typedef enum bitnet_device_kind {
    BITNET_DEVICE_CPU = 0, /* pointers given to kernels are host pointers */
    BITNET_DEVICE_GPU = 1  /* pointers given to kernels were allocated through bitnet_device_iface */
} bitnet_device_kind;

typedef enum bitnet_ffn_kind {
    BITNET_FFN_RELU2 = 0, /* y = relu(g)^2 * u  (bitnet-b1.58, Microsoft 2B-4T) */
    BITNET_FFN_SILU = 1   /* y = silu(g) * u    (llama.cpp arch `bitnet`) */
} bitnet_ffn_kind;

/* ------------------------------------------------------------------------------------------------
 * Argument structs, one per op. Pointers are in the address space of the kernel's device.
 * Every struct starts with struct_size so an op can gain arguments without breaking kernels.
 * ---------------------------------------------------------------------------------------------- */

/* Quantized activations (BITNET_ACT_I8_ROW / BITNET_ACT_I8_B256). */
typedef struct bitnet_qact {
    int8_t* data;       /* M rows, each `row_stride` bytes, first K bytes meaningful */
    float* scales;      /* see bitnet_act_type for meaning and count */
    int32_t* row_sums;  /* optional (may be NULL): Σq per row, for kernels using an offset trick */
    size_t row_stride;  /* bytes between rows of `data`, >= K */
} bitnet_qact;

/* Weights as a kernel sees them after (optional) packing. */
typedef struct bitnet_weights {
    const void* data;  /* raw bytes as stored in the model file, or the kernel's packed form */
    size_t size;       /* bytes at data */
    float scale;       /* per-tensor multiplier applied to every output (I2_S scale, or 1.0);
                        * an arch with `*.scale` tensors folds them in here */
    const void* packed;/* what pack_weights returned, or NULL when the kernel runs on `data` */
} bitnet_weights;

struct bitnet_norm_quantize_args; /* below */

/* Since 1.5: one more weight over a matmul call's X (see bitnet_matmul_args.parts). */
typedef struct bitnet_matmul_part {
    const bitnet_weights* w;     /* same format and K as the call's w */
    int32_t n;                   /* outputs of this part */
    float* y;                    /* M x n, row stride ldy floats; overwritten */
    int32_t ldy;
} bitnet_matmul_part;

#define BITNET_MATMUL_MAX_PARTS 3

typedef struct bitnet_matmul_args {
    uint32_t struct_size;
    int32_t m, n, k;             /* rows of X (tokens), outputs, reduction length */
    bitnet_act_type act_type;    /* BITNET_ACT_F32 -> x_f32 is used; I8_* -> x_q is used */
    const float* x_f32;          /* M x K, row stride ldx floats */
    const bitnet_qact* x_q;
    int32_t ldx;                 /* floats between rows of x_f32 (>= K) */
    const bitnet_weights* w;
    float* y;                    /* M x N, row stride ldy floats; overwritten */
    int32_t ldy;
    /* Since 1.5, read only by kernels that set BITNET_KERNEL_FLAG_MATMUL_PARTS (the host gives
     * no other kernel n_parts > 0): n_parts more weights over the same X, each computed exactly as
     * a call of its own would compute it (Q, K and V, or gate and up, in one launch on a device).
     * The host promises that the kernel is the one it routes for every part's own signature
     * (m, part n, k), so each part's weights were packed by this kernel's pack_weights. */
    int32_t n_parts;             /* 0 .. BITNET_MATMUL_MAX_PARTS */
    bitnet_matmul_part parts[BITNET_MATMUL_MAX_PARTS];
    /* Since 1.5, read only by kernels that set BITNET_KERNEL_FLAG_MATMUL_PROLOGUE (the host gives
     * no other kernel a non-NULL prologue): the call first does *prologue as BITNET_OP_NORM_QUANTIZE
     * would (residual NULL; `up` allowed), then multiplies what it quantized: prologue->out is what
     * x_q points to, and prologue->act_type is act_type. A BitLinear's norm and product are then one
     * launch. Afterwards the prologue's y and out (and, with up, x) hold unspecified values: the
     * caller reads them no further, so a kernel may keep them in on-chip memory. */
    const struct bitnet_norm_quantize_args* prologue;
    /* Since 1.5, read only by kernels that set BITNET_KERNEL_FLAG_MATMUL_ACCUMULATE: non-zero adds
     * each product into y (and into every part's y) instead of overwriting it: y = y + X·Wᵀ, one
     * f32 addition per element as BITNET_OP_ADD makes it, so an output projection lands in the
     * residual stream in the same launch. */
    int32_t accumulate;
} bitnet_matmul_args;

typedef struct bitnet_quantize_args {
    uint32_t struct_size;
    int32_t m, k;
    const float* x;    /* M x K, row stride ldx floats */
    int32_t ldx;
    bitnet_qact* out;  /* caller-allocated: data >= M*row_stride, scales sized per act type */
} bitnet_quantize_args;

typedef struct bitnet_rmsnorm_args {
    uint32_t struct_size;
    int32_t m, n;          /* M rows of N values */
    const float* x;        /* row stride ldx */
    int32_t ldx;
    const float* weight;   /* N values, or NULL for no weight */
    float eps;
    float* y;              /* row stride ldy; may alias x */
    int32_t ldy;
} bitnet_rmsnorm_args;

struct bitnet_kv_store_args; /* below */

typedef struct bitnet_rope_args {
    uint32_t struct_size;
    int32_t m;             /* tokens */
    int32_t n_heads;
    int32_t head_dim;
    int32_t n_rot;         /* rotated dims per head (<= head_dim, even) */
    float freq_base;
    float freq_scale;      /* position multiplier (1.0 = none) */
    int32_t neox;          /* 1: pairs (i, i + n_rot/2); 0: pairs (2i, 2i+1) */
    const int32_t* positions; /* M positions (host or device memory as the kernel's device) */
    float* x;              /* in place: M x n_heads x head_dim, token stride ldx floats */
    int32_t ldx;
    /* Since 1.5, read only by kernels that set BITNET_KERNEL_FLAG_ROPE_KV_STORE (the host gives no
     * other kernel a non-NULL kv_store): after rotating, the call does what kv_store_op
     * (BITNET_OP_KV_STORE or BITNET_OP_KV_STORE_SEQS) does with *kv_store, whose K rows may be
     * rows of x just rotated: a step's RoPE and cache store in one launch. */
    const struct bitnet_kv_store_args* kv_store;
    bitnet_op kv_store_op;
} bitnet_rope_args;

typedef struct bitnet_attention_args {
    uint32_t struct_size;
    int32_t m;             /* query tokens in this batch, at positions n_past .. n_past+m-1 */
    int32_t n_past;        /* tokens already in the cache before this batch */
    int32_t n_heads, n_kv_heads, head_dim;
    float scale;           /* usually 1/sqrt(head_dim) */
    const float* q;        /* M x n_heads x head_dim, token stride ldq floats */
    int32_t ldq;
    /* Cache for this layer, F16 (IEEE half) values: position p, kv head h at
     * k_cache[p*kv_stride + h*head_dim] (or, since 1.4, at k_cache[p*kv_stride + h*kv_head_stride]
     * when kv_head_stride is non-zero); the batch's own K/V are already written at n_past.. */
    const uint16_t* k_cache;
    const uint16_t* v_cache;
    int32_t kv_stride;     /* halves between positions (>= n_kv_heads*head_dim; with a non-zero
                              kv_head_stride, >= head_dim) */
    float* out;            /* M x n_heads x head_dim, token stride ldo floats */
    int32_t ldo;
    /* Since 1.3, read by BITNET_OP_ATTENTION_SEQS kernels only (ATTENTION kernels ignore them):
     * one call for the rows of several sequences, each with its own cache slot. Query row t is
     * the token at position row_pos[t] of the sequence whose cache is slot row_slot[t]; it sees
     * keys 0..row_pos[t] of that slot, whose K and V start at k_cache + row_slot[t]*slot_stride
     * and v_cache + row_slot[t]*slot_stride (the token's own K/V already stored). Both arrays
     * hold M int32 in the memory the kernel computes on (device memory for a device plugin, so a
     * recorded step reads what the host wrote there before each launch). n_past is unused. The
     * caller promises 0 <= row_slot[t] < n_slots and 0 <= row_pos[t] < max_keys; a kernel that
     * can check (host memory) refuses other values with INVALID_ARGUMENT, one that cannot skips
     * such rows. */
    const int32_t* row_pos;
    const int32_t* row_slot;
    int64_t slot_stride;   /* halves between slots (>= max_keys*kv_stride; with a non-zero
                              kv_head_stride, >= n_kv_heads*kv_head_stride) */
    int32_t n_slots;
    int32_t max_keys;
    /* Since 1.4: halves between the KV heads of a position. 0 (or a struct_size that stops short
     * of it): head_dim, a position's heads side by side. Non-zero (>= keys*kv_stride, keys being
     * n_past+m for ATTENTION and max_keys for ATTENTION_SEQS): head-major, each head's positions
     * contiguous when kv_stride == head_dim, so a kernel attending one head streams its keys
     * instead of reading head_dim of every n_kv_heads*head_dim halves. The host sets it non-zero
     * only when every kernel that could touch the cache sets BITNET_KERNEL_FLAG_KV_HEAD_STRIDE. */
    int64_t kv_head_stride;
} bitnet_attention_args;

typedef struct bitnet_ffn_act_args {
    uint32_t struct_size;
    bitnet_ffn_kind kind;
    int32_t m, n;
    const float* gate;     /* M x N, stride ld */
    const float* up;       /* M x N, stride ld */
    float* y;              /* may alias gate */
    int32_t ld;
} bitnet_ffn_act_args;

typedef struct bitnet_add_args {
    uint32_t struct_size;
    int32_t m, n;
    const float* x;        /* stride ldx */
    int32_t ldx;
    float* y;              /* y += x, stride ldy */
    int32_t ldy;
} bitnet_add_args;

/* Since 1.1. Writes M rows of K and V (f32, `width` values each, row stride ld floats) into the
 * F16 cache at positions pos0..pos0+m-1 (round to nearest even). A device plugin keeps its cache
 * in device memory this way; the attention op then reads it. */
typedef struct bitnet_kv_store_args {
    uint32_t struct_size;
    int32_t m;
    int32_t pos0;
    int32_t width;         /* n_kv_heads * head_dim */
    const float* k;
    const float* v;
    int32_t ld;
    uint16_t* k_cache;     /* same layout as bitnet_attention_args.k_cache */
    uint16_t* v_cache;
    int32_t kv_stride;     /* halves between positions (>= width) */
    /* Since 1.3, read by BITNET_OP_KV_STORE_SEQS kernels only: row t goes to position row_pos[t]
     * of slot row_slot[t] (k_cache + row_slot[t]*slot_stride); pos0 is unused. Same memory and
     * range rules as bitnet_attention_args.row_pos. */
    const int32_t* row_pos;
    const int32_t* row_slot;
    int64_t slot_stride;
    int32_t n_slots;
    int32_t max_keys;
    /* Since 1.4, as bitnet_attention_args.kv_head_stride: when non-zero, width is n_kv_heads rows
     * of head_dim values and head h of position p goes to p*kv_stride + h*kv_head_stride. */
    int32_t head_dim;
    int64_t kv_head_stride;
} bitnet_kv_store_args;

/* Since 1.2. The row ops in front of a BitLinear in one call, for backends where each call costs a
 * launch: when residual is non-NULL, first x += residual (x is the residual stream, updated in
 * place); then y = RMSNorm(x) (times weight, as bitnet_rmsnorm_args), then y is quantized into
 * `out` by act_type's rule (I8_ROW or I8_B256, as bitnet_quantize_args). The results must equal
 * ADD, RMSNORM and QUANTIZE_ACT run one after the other by the same plugin. y may alias x only
 * when residual is NULL. Optional: the host uses it only where the plugin that serves RMSNORM
 * offers it, and otherwise runs the three ops. The shape's act_type is the quantized type. */
typedef struct bitnet_norm_quantize_args {
    uint32_t struct_size;
    int32_t m, n;          /* M rows of N values */
    float* x;              /* row stride ldx */
    int32_t ldx;
    const float* residual; /* NULL, or M rows added into x first (row stride ld_residual) */
    int32_t ld_residual;
    const float* weight;   /* N values, or NULL for no weight */
    float eps;
    float* y;              /* the normalized rows, row stride ldy */
    int32_t ldy;
    bitnet_act_type act_type;
    bitnet_qact* out;      /* as bitnet_quantize_args.out */
    /* Since 1.5, read only by kernels that set BITNET_KERNEL_FLAG_NORM_FFN_ACT (the host gives no
     * other kernel a non-NULL up): the FFN activation first, so the block's tail is one call.
     * When up is non-NULL, residual is NULL and each row of x is first replaced by
     * ffn_act(x, up) of ffn_kind (as BITNET_OP_FFN_ACT with gate = y = x), then normalized and
     * quantized as above. Afterwards x holds either those rows or what it held before (the
     * caller reads x no further), so a kernel need not write it back. */
    const float* up;       /* M rows, row stride ld_up */
    int32_t ld_up;
    bitnet_ffn_kind ffn_kind;
} bitnet_norm_quantize_args;

/* The shape a routing decision is made for; also what `supports` is asked about. */
typedef struct bitnet_shape {
    uint32_t struct_size;
    bitnet_op op;
    bitnet_weight_format weight_format;
    bitnet_act_type act_type;
    int32_t m, n, k;       /* matmul: as in bitnet_matmul_args; other ops: m rows, n width, k unused */
    int32_t n_heads, n_kv_heads, head_dim; /* attention and rope only */
} bitnet_shape;

/* ------------------------------------------------------------------------------------------------
 * What the host gives a plugin instance.
 * ---------------------------------------------------------------------------------------------- */

/* One task of a parallel region: do the part `ith` of `nth`. */
typedef void (*bitnet_task_fn)(void* user, int32_t ith, int32_t nth);

typedef struct bitnet_host_api {
    uint32_t struct_size;
    uint32_t abi_version;    /* BITNET_PLUGIN_ABI_VERSION the host was built with */
    void* host_ctx;          /* pass back as first argument of the callbacks below */
    /* Log a message. `msg` is copied; never NULL. Safe from any thread. */
    void (*log)(void* host_ctx, bitnet_log_level level, const char* msg);
    /* Run fn(user, i, nth) for i in [0, nth) on the host's thread pool and return when all are done.
     * Kernels split their work into nth parts (>= 1), parts of any size; the host may run them on
     * fewer threads than nth (the bundled host cuts a region into a few parts per thread, which
     * its threads claim as they go, so one slowed thread holds up a region by one part only).
     * Never call parallel_for from inside a task (returns at once, running every part inline). */
    void (*parallel_for)(void* host_ctx, bitnet_task_fn fn, void* user);
    int32_t n_threads;       /* the value parallel_for will pass as nth (the parts, not the threads) */
} bitnet_host_api;

/* ------------------------------------------------------------------------------------------------
 * Kernels.
 * ---------------------------------------------------------------------------------------------- */

typedef struct bitnet_kernel_desc {
    uint32_t struct_size;
    /* XNNPACK-style name that is the spec: <op>_<wformat>_<act>_<tile>__<isa>, e.g.
     * "matmul_i2s_i8row_gemv__avx512vnni". Unique within the plugin. */
    const char* name;
    bitnet_op op;
    bitnet_weight_format weight_format; /* BITNET_WF_NONE for ops without weights */
    bitnet_act_type act_type;           /* input activation type (matmul, quantize: the output type) */
    /* Static limits. 0 means "no limit". */
    int32_t m_min, m_max;               /* tokens per call */
    int32_t k_multiple;                 /* K (matmul) or N (other ops) must be a multiple of this */
    int32_t n_multiple;                 /* N (matmul) must be a multiple of this */

    /* Optional finer check. NULL: the static limits decide. Returns 1 if the shape is supported. */
    int32_t (*supports)(void* plugin, const bitnet_shape* shape);

    /* Optional one-time weight repacking at load. NULL: run() receives the file's bytes (w->data).
     * On success *packed is owned by the plugin until release_packed(plugin, *packed) and
     * *packed_bytes says how much memory it holds (reported to the user, and counted as the bytes
     * a decode step reads). The host packs a weight once per plugin and pack_weights function:
     * kernels of one plugin that name the same function (e.g. a decode and a prefill kernel on
     * one layout) receive the same packed copy in w->packed, so it must serve every shape those
     * kernels accept. Once every kernel routed for a weight runs on a packed copy, the host may
     * drop the file's pages of that weight from memory (w->data stays valid and readable). */
    bitnet_status (*pack_weights)(void* plugin, const bitnet_shape* shape, const void* data,
                                  size_t size, void** packed, size_t* packed_bytes);
    void (*release_packed)(void* plugin, void* packed); /* NULL iff pack_weights is NULL */

    /* Optional scratch requirement for run(). NULL: none. The host passes that many bytes
     * (64-byte aligned, on the kernel's device) as `workspace`. */
    size_t (*workspace_size)(void* plugin, const bitnet_shape* shape);

    /* Compute. `args` points to the op's argument struct (see bitnet_op). Must not retain any
     * pointer after returning (GPU kernels: the work is ordered before the next sync). */
    bitnet_status (*run)(void* plugin, const void* args, void* workspace);

    /* Since 1.4: BITNET_KERNEL_FLAG_* bits (0 when struct_size stops short of it). */
    uint32_t flags;
} bitnet_kernel_desc;

/* The kernel reads kv_head_stride (ATTENTION, ATTENTION_SEQS, KV_STORE, KV_STORE_SEQS). */
#define BITNET_KERNEL_FLAG_KV_HEAD_STRIDE 1u
/* Since 1.5: the MATMUL kernel computes bitnet_matmul_args.parts. */
#define BITNET_KERNEL_FLAG_MATMUL_PARTS 2u
/* Since 1.5: the NORM_QUANTIZE kernel applies the FFN activation (bitnet_norm_quantize_args.up). */
#define BITNET_KERNEL_FLAG_NORM_FFN_ACT 4u
/* Since 1.5: the MATMUL kernel runs bitnet_matmul_args.prologue (with or without its up). */
#define BITNET_KERNEL_FLAG_MATMUL_PROLOGUE 8u
/* Since 1.5: the MATMUL kernel reads bitnet_matmul_args.accumulate. */
#define BITNET_KERNEL_FLAG_MATMUL_ACCUMULATE 16u
/* Since 1.5: the ROPE kernel does bitnet_rope_args.kv_store. */
#define BITNET_KERNEL_FLAG_ROPE_KV_STORE 32u

/* ------------------------------------------------------------------------------------------------
 * Device memory, for plugins whose kernels do not work on host pointers.
 * ---------------------------------------------------------------------------------------------- */
typedef struct bitnet_device_iface {
    uint32_t struct_size;
    bitnet_status (*alloc)(void* plugin, size_t bytes, void** ptr);   /* 256-byte aligned */
    void (*free)(void* plugin, void* ptr);                             /* NULL ptr is a no-op */
    bitnet_status (*copy_to_device)(void* plugin, void* dst, const void* src_host, size_t bytes);
    bitnet_status (*copy_to_host)(void* plugin, void* dst_host, const void* src, size_t bytes);
    bitnet_status (*copy_on_device)(void* plugin, void* dst, const void* src, size_t bytes);
    /* Wait until every kernel and copy issued so far has finished. */
    bitnet_status (*synchronize)(void* plugin);
    /* Memory totals in bytes; NULL: unknown. */
    bitnet_status (*memory_info)(void* plugin, size_t* free_bytes, size_t* total_bytes);
} bitnet_device_iface;

/* ------------------------------------------------------------------------------------------------
 * The descriptor: static, read without side effects.
 * ---------------------------------------------------------------------------------------------- */
typedef struct bitnet_plugin_descriptor {
    uint32_t struct_size;
    uint32_t abi_version;          /* BITNET_PLUGIN_ABI_VERSION the plugin was built with */
    const char* name;              /* short, unique: "scalar", "avx2", "cuda", "acme-npu" */
    const char* version;           /* plugin's own version, e.g. "1.2.0" */
    const char* build_id;          /* changes whenever the code changes (tuning cache key) */
    bitnet_device_kind device_kind;

    /* Can this plugin run here? Must have no side effects beyond reading CPU/driver state.
     * Returns 1 if usable; otherwise 0 and writes a NUL-terminated reason into reason[0..len). */
    int32_t (*probe)(char* reason, size_t reason_len);

    /* Create an instance. `host` stays valid until destroy. On success *plugin is an opaque handle. */
    bitnet_status (*create)(const bitnet_host_api* host, void** plugin);
    /* Release everything the instance holds. Called once, after all work using it has finished. */
    void (*destroy)(void* plugin);

    /* The kernel table. The array lives as long as the instance; *count entries, each
     * struct_size bytes (the plugin's sizeof(bitnet_kernel_desc), the same for every entry): a
     * host built against another minor steps through it by the entries' struct_size, not its
     * own sizeof (bitnet_kernel_desc grew in 1.4). */
    const bitnet_kernel_desc* (*get_kernels)(void* plugin, size_t* count);

    /* Device memory. NULL for BITNET_DEVICE_CPU plugins (the host uses its own memory). */
    const bitnet_device_iface* (*get_device_iface)(void* plugin);

    /* A human-readable device description ("AVX-512 VNNI, 2 threads", "NVIDIA H100 80GB"). NULL: name. */
    const char* (*describe_device)(void* plugin);

    /* Extension point (ggml's get_proc_address): named functions the ABI does not list yet.
     * NULL, or returns NULL for unknown names. */
    void* (*get_proc_address)(void* plugin, const char* name);
} bitnet_plugin_descriptor;

/* The symbol every plugin exports. */
typedef const bitnet_plugin_descriptor* (*bitnet_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BITNET_PLUGIN_H */
