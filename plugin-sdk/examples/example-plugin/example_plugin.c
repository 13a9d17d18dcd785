/*
 * The smallest useful bitnet-runtime plugin: one ternary matmul kernel (Microsoft I2_S weights x
 * int8 per-token activations), written in plain C against <bitnet/plugin.h> only.
 *
 * It shows what a vendor fills in: a static descriptor returned by bitnet_plugin_entry, a probe
 * with no side effects, create/destroy, and a kernel table whose entries say which op, weight
 * format and activation type they serve. The host's kernel manager checks this kernel against
 * the scalar reference and benchmarks it like any other; nothing in the host changes.
 */
#include <bitnet/plugin.h>

#include <stdlib.h>
#include <string.h>

typedef struct example_plugin {
    const bitnet_host_api* host;
} example_plugin;

static int32_t example_probe(char* reason, size_t reason_len) {
    (void)reason;
    (void)reason_len;
    return 1; /* portable C: runs anywhere */
}

static bitnet_status example_create(const bitnet_host_api* host, void** out) {
    if (host == NULL || out == NULL) return BITNET_ERR_INVALID_ARGUMENT;
    example_plugin* p = (example_plugin*)calloc(1, sizeof(example_plugin));
    if (p == NULL) return BITNET_ERR_OUT_OF_MEMORY;
    p->host = host;
    *out = p;
    return BITNET_OK;
}

static void example_destroy(void* plugin) { free(plugin); }

/* I2_S: 128-weight blocks of 32 bytes; byte j holds weights j, j+32, j+64, j+96 in bits 7:6,
 * 5:4, 3:2, 1:0; codes 0,1,2 mean -1,0,+1. Row n of K weights starts at byte n*K/4. */
static int32_t i2s_dot(const uint8_t* row, const int8_t* q, int32_t k) {
    int32_t sum = 0;
    for (int32_t blk = 0; blk < k / 128; ++blk) {
        const uint8_t* b = row + blk * 32;
        const int8_t* x = q + blk * 128;
        for (int32_t j = 0; j < 32; ++j) {
            for (int32_t g = 0; g < 4; ++g) {
                const int32_t code = (b[j] >> (6 - 2 * g)) & 3;
                sum += (code - 1) * x[j + 32 * g];
            }
        }
    }
    return sum;
}

static bitnet_status example_matmul(void* plugin, const void* args_v, void* workspace) {
    (void)plugin;
    (void)workspace;
    const bitnet_matmul_args* a = (const bitnet_matmul_args*)args_v;
    if (a == NULL || a->struct_size < sizeof(bitnet_matmul_args) || a->x_q == NULL || a->w == NULL ||
        a->y == NULL || a->k % 128 != 0 || a->act_type != BITNET_ACT_I8_ROW)
        return BITNET_ERR_INVALID_ARGUMENT;
    const uint8_t* w = (const uint8_t*)a->w->data;
    for (int32_t m = 0; m < a->m; ++m) {
        const int8_t* q = a->x_q->data + (size_t)m * a->x_q->row_stride;
        const float s = a->x_q->scales[m];
        for (int32_t n = 0; n < a->n; ++n) {
            const int32_t dot = i2s_dot(w + (size_t)n * (size_t)a->k / 4, q, a->k);
            a->y[(size_t)m * a->ldy + n] = ((float)dot / s) * a->w->scale;
        }
    }
    return BITNET_OK;
}

static const bitnet_kernel_desc example_kernels[] = {
    {
        sizeof(bitnet_kernel_desc),
        "matmul_i2s_i8row__example_c",
        BITNET_OP_MATMUL, BITNET_WF_I2_S, BITNET_ACT_I8_ROW,
        1, 0,   /* any number of tokens */
        128, 1, /* K a multiple of the I2_S block */
        NULL, NULL, NULL, NULL, example_matmul,
        0,      /* flags (ABI 1.4): no KV ops here */
    },
};

static const bitnet_kernel_desc* example_get_kernels(void* plugin, size_t* count) {
    (void)plugin;
    *count = sizeof(example_kernels) / sizeof(example_kernels[0]);
    return example_kernels;
}

static const bitnet_plugin_descriptor example_descriptor = {
    sizeof(bitnet_plugin_descriptor),
    BITNET_PLUGIN_ABI_VERSION,
    "example",
    "1.0.0",
    "example-1.0.0",
    BITNET_DEVICE_CPU,
    example_probe,
    example_create,
    example_destroy,
    example_get_kernels,
    NULL, /* get_device_iface: CPU plugin */
    NULL, /* describe_device: the host prints "cpu" */
    NULL, /* get_proc_address: no extensions */
};

BITNET_PLUGIN_EXPORT const bitnet_plugin_descriptor* bitnet_plugin_entry(void) { return &example_descriptor; }
