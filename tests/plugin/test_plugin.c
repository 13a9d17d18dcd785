/* One plain-C plugin source compiled several ways (see CMakeLists.txt) to exercise every refusal
 * the loader knows. Written in C on purpose: the ABI must not need C++. */
#include <bitnet/plugin.h>

#include <stdio.h>
#include <string.h>

#ifndef TEST_PLUGIN_NAME
#define TEST_PLUGIN_NAME "test-good"
#endif
#ifndef TEST_ABI_VERSION
#define TEST_ABI_VERSION BITNET_PLUGIN_ABI_VERSION
#endif

static int32_t probe(char* reason, size_t len) {
#ifdef TEST_PROBE_UNSUPPORTED
    snprintf(reason, len, "needs the imaginary ISA 'frobnicate'");
    return 0;
#else
    (void)reason;
    (void)len;
    return 1;
#endif
}

#ifndef TEST_CREATE_FAILS
static int instance_token;
#endif

static bitnet_status create(const bitnet_host_api* host, void** plugin) {
    if (host == NULL || host->struct_size < sizeof(uint32_t) * 2 || plugin == NULL) return BITNET_ERR_INVALID_ARGUMENT;
#ifdef TEST_CREATE_FAILS
    return BITNET_ERR_DEVICE;
#else
    *plugin = &instance_token;
    return BITNET_OK;
#endif
}

static void destroy(void* plugin) { (void)plugin; }

/* y += x, the simplest op, so the kernel table is not empty. */
static bitnet_status run_add(void* plugin, const void* args_v, void* workspace) {
    (void)plugin;
    (void)workspace;
    const bitnet_add_args* a = (const bitnet_add_args*)args_v;
    if (a == NULL || a->struct_size < sizeof(bitnet_add_args) || a->x == NULL || a->y == NULL) return BITNET_ERR_INVALID_ARGUMENT;
    for (int32_t i = 0; i < a->m; ++i)
        for (int32_t j = 0; j < a->n; ++j) a->y[i * a->ldy + j] += a->x[i * a->ldx + j];
    return BITNET_OK;
}

#if defined(TEST_FUTURE_KERNEL_DESC)
/* A later minor's bitnet_kernel_desc: a member appended that this host does not know, so the
 * entries are larger than the host's own sizeof. */
typedef struct {
    bitnet_kernel_desc base;
    uint64_t future_member;
} kernel_desc_future;
#define FUTURE_KERNEL(name, m_min)                                                                        \
    {{sizeof(kernel_desc_future), name, BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32, m_min, 0, 1, 1, NULL, NULL, \
      NULL, NULL, run_add, 0},                                                                            \
     0xdeadbeefu}
static const kernel_desc_future kernels[] = {
    FUTURE_KERNEL("add_f32__new0", 1),
    FUTURE_KERNEL("add_f32__new1", 2),
    FUTURE_KERNEL("add_f32__new2", 3),
};
#elif !defined(TEST_OLD_KERNEL_DESC)
static const bitnet_kernel_desc kernels[] = {
    {sizeof(bitnet_kernel_desc), "add_f32__test", BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32,
     0, 0, 0, 0, NULL, NULL, NULL, NULL, run_add, 0},
};
#else
/* bitnet_kernel_desc as ABI 1.3 laid it out (before `flags`), three entries: a host must step
 * through the table by the entries' struct_size, not by its own sizeof. */
typedef struct {
    uint32_t struct_size;
    const char* name;
    bitnet_op op;
    bitnet_weight_format weight_format;
    bitnet_act_type act_type;
    int32_t m_min, m_max;
    int32_t k_multiple;
    int32_t n_multiple;
    int32_t (*supports)(void* plugin, const bitnet_shape* shape);
    bitnet_status (*pack_weights)(void* plugin, const bitnet_shape* shape, const void* data, size_t size,
                                  void** packed, size_t* packed_bytes);
    void (*release_packed)(void* plugin, void* packed);
    size_t (*workspace_size)(void* plugin, const bitnet_shape* shape);
    bitnet_status (*run)(void* plugin, const void* args, void* workspace);
} kernel_desc_1_3;
static const kernel_desc_1_3 kernels[] = {
    {sizeof(kernel_desc_1_3), "add_f32__old0", BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32, 1, 0, 1, 1, NULL, NULL, NULL, NULL, run_add},
    {sizeof(kernel_desc_1_3), "add_f32__old1", BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32, 2, 0, 1, 1, NULL, NULL, NULL, NULL, run_add},
    {sizeof(kernel_desc_1_3), "add_f32__old2", BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32, 3, 0, 1, 1, NULL, NULL, NULL, NULL, run_add},
};
#endif

static const bitnet_kernel_desc* get_kernels(void* plugin, size_t* count) {
    (void)plugin;
    *count = sizeof(kernels) / sizeof(kernels[0]);
    return (const bitnet_kernel_desc*)(const void*)kernels;
}

static const bitnet_plugin_descriptor descriptor = {
    sizeof(bitnet_plugin_descriptor), TEST_ABI_VERSION, TEST_PLUGIN_NAME, "0.0.1", "test-build",
    BITNET_DEVICE_CPU, probe, create, destroy, get_kernels, NULL, NULL, NULL,
};

#ifndef TEST_NO_ENTRY
BITNET_PLUGIN_EXPORT const bitnet_plugin_descriptor* bitnet_plugin_entry(void) { return &descriptor; }
#else
/* Exported under the wrong name: the loader must report the missing entry symbol. */
BITNET_PLUGIN_EXPORT const bitnet_plugin_descriptor* bitnet_plugin_entry_v0(void) { return &descriptor; }
#endif
