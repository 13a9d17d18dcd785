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

static const bitnet_kernel_desc kernels[] = {
    {sizeof(bitnet_kernel_desc), "add_f32__test", BITNET_OP_ADD, BITNET_WF_NONE, BITNET_ACT_F32,
     0, 0, 0, 0, NULL, NULL, NULL, NULL, run_add},
};

static const bitnet_kernel_desc* get_kernels(void* plugin, size_t* count) {
    (void)plugin;
    *count = sizeof(kernels) / sizeof(kernels[0]);
    return kernels;
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
