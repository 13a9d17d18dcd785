// One I2_S matmul test plugin compiled several ways (see CMakeLists.txt) to exercise the kernel
// manager: correct, off by one, deliberately slow, or degrading once BITNET_TEST_DEGRADE is set.
// pack_weights unpacks the ternary codes once (with the runtime's own decoder), so the kernel
// itself is a plain int8 dot product: correct by construction, and faster than the slow variants.
#include "formats/formats.hpp"

#include <bitnet/plugin.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <vector>

#ifndef TEST_PLUGIN_NAME
#define TEST_PLUGIN_NAME "test-fast"
#endif
#ifndef TEST_PLUGIN_VERSION
#define TEST_PLUGIN_VERSION "1.0.0"
#endif
#ifndef TEST_REPEAT
#define TEST_REPEAT 1 // how many times the slow variants redo the work
#endif

namespace {

struct Packed {
    int32_t n = 0, k = 0;
    std::vector<int8_t> codes; // N x K
};

const bitnet_host_api* g_host = nullptr;
int g_token;

bitnet_status pack(void*, const bitnet_shape* s, const void* data, size_t, void** out, size_t* bytes) {
    try {
        auto* p = new Packed;
        p->n = s->n;
        p->k = s->k;
        p->codes.resize(size_t(s->n) * s->k);
        for (int32_t r = 0; r < s->n; ++r)
            bitnet::formats::ternary_row_codes(bitnet::formats::GgmlType::I2_S, data, r, s->k,
                                               p->codes.data() + size_t(r) * s->k, nullptr);
        *out = p;
        *bytes = p->codes.size();
        return BITNET_OK;
    } catch (...) {
        return BITNET_ERR_INTERNAL;
    }
}

void release(void*, void* p) { delete static_cast<Packed*>(p); }

int repeats() {
#ifdef TEST_DEGRADE
    // The injected slowdown: the same correct kernel, doing its work 1000 times once the flag is set
    // (far beyond the scalar reference's cost, so the ranking cannot be inverted by noise).
    return std::getenv("BITNET_TEST_DEGRADE") != nullptr ? 1000 : 1;
#else
    return TEST_REPEAT;
#endif
}

struct Task {
    const bitnet_matmul_args* a;
    const Packed* p;
    int reps;
};

void rows(void* user, int32_t ith, int32_t nth) {
    const Task& t = *static_cast<const Task*>(user);
    const auto& a = *t.a;
    const int32_t per = (a.n + nth - 1) / nth, n0 = ith * per, n1 = std::min(a.n, n0 + per);
    for (int rep = 0; rep < t.reps; ++rep)
        for (int32_t m = 0; m < a.m; ++m) {
            const int8_t* q = a.x_q->data + size_t(m) * a.x_q->row_stride;
            for (int32_t n = n0; n < n1; ++n) {
                const int8_t* w = t.p->codes.data() + size_t(n) * a.k;
                int32_t dot = 0;
                for (int32_t j = 0; j < a.k; ++j) dot += int32_t(w[j]) * q[j];
#ifdef TEST_OFF_BY_ONE
                dot += 1;
#endif
                a.y[size_t(m) * a.ldy + n] = (float(dot) / a.x_q->scales[m]) * a.w->scale;
            }
        }
}

bitnet_status run(void*, const void* args, void*) {
    const auto* a = static_cast<const bitnet_matmul_args*>(args);
    if (a == nullptr || a->struct_size < sizeof(bitnet_matmul_args) || a->w == nullptr || a->w->packed == nullptr ||
        a->x_q == nullptr)
        return BITNET_ERR_INVALID_ARGUMENT;
    Task t{a, static_cast<const Packed*>(a->w->packed), repeats()};
    if (t.p->n != a->n || t.p->k != a->k) return BITNET_ERR_INVALID_ARGUMENT;
    g_host->parallel_for(g_host->host_ctx, &rows, &t);
    return BITNET_OK;
}

const bitnet_kernel_desc kKernels[] = {
    {sizeof(bitnet_kernel_desc), "matmul_i2s_i8row__" TEST_PLUGIN_NAME, BITNET_OP_MATMUL, BITNET_WF_I2_S,
     BITNET_ACT_I8_ROW, 1, 0, 128, 1, nullptr, &pack, &release, nullptr, &run, 0},
};

int32_t probe(char*, size_t) { return 1; }
bitnet_status create(const bitnet_host_api* host, void** plugin) {
    if (!BITNET_HAS_MEMBER(host, bitnet_host_api, n_threads) || plugin == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    g_host = host;
    *plugin = &g_token;
    return BITNET_OK;
}
void destroy(void*) {}
const bitnet_kernel_desc* kernels(void*, size_t* count) {
    *count = sizeof(kKernels) / sizeof(kKernels[0]);
    return kKernels;
}

const bitnet_plugin_descriptor kDescriptor = {
    sizeof(bitnet_plugin_descriptor), BITNET_PLUGIN_ABI_VERSION, TEST_PLUGIN_NAME, TEST_PLUGIN_VERSION,
    "test-" TEST_PLUGIN_NAME "-" TEST_PLUGIN_VERSION, BITNET_DEVICE_CPU, &probe, &create, &destroy, &kernels,
    nullptr, nullptr, nullptr,
};

} // namespace

extern "C" BITNET_PLUGIN_EXPORT const bitnet_plugin_descriptor* bitnet_plugin_entry(void) { return &kDescriptor; }
