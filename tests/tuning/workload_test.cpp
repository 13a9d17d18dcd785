// The kernel manager's attention problem checks a kernel on the cache layout a CPU session gives
// it: a kernel that says it reads ABI 1.4's head-major layout but does not is refused.
#include "dispatch/signature.hpp"
#include "tuning/workload.hpp"

#include "core/thread_pool.hpp"
#include "plugin/plugin_registry.hpp"
#include "test_env.hpp"

#include <gtest/gtest.h>

namespace {

using RunFn = bitnet_status (*)(void*, const void*, void*);
RunFn g_scalar_attention = nullptr;

// The scalar kernel, fed the head-major cache as if it were interleaved (a plugin that set the
// flag without reading kv_head_stride).
bitnet_status ignores_head_stride(void* plugin, const void* args, void* ws) {
    bitnet_attention_args a = *static_cast<const bitnet_attention_args*>(args);
    a.kv_head_stride = 0;
    a.kv_stride = a.n_kv_heads * a.head_dim;
    return g_scalar_attention(plugin, &a, ws);
}

TEST(AttentionWorkload, ChecksHeadMajorKernelsOnTheHeadMajorLayout) {
    bitnet::ThreadPool pool(1);
    bitnet::PluginRegistry reg(&pool);
    const auto* scalar = reg.load(bitnet::testing::build_plugin_dir() / "libbitnet-scalar.so");
    ASSERT_NE(scalar, nullptr);
    const bitnet_kernel_desc* ref = nullptr;
    for (const bitnet_kernel_desc* k : scalar->kernels())
        if (k->op == BITNET_OP_ATTENTION) ref = k;
    ASSERT_NE(ref, nullptr);
    ASSERT_NE(ref->flags & BITNET_KERNEL_FLAG_KV_HEAD_STRIDE, 0u) << "the reference reads both layouts";
    g_scalar_attention = ref->run;
    bitnet_kernel_desc liar = *ref, interleaved_only = *ref;
    liar.run = ignores_head_stride;
    interleaved_only.flags = 0;

    bitnet::Router router(reg, {});
    bitnet::model::Ops ops(router);
    bitnet::Scratch scratch;
    bitnet::tuning::TuneTarget t;
    t.shape = bitnet::make_attention_shape(1, 8, 2, 64);
    t.n_past = 40;
    auto w = bitnet::tuning::make_workload(t, ops, scratch, 7);
    const bitnet::KernelRef ref_k{scalar, ref}, liar_k{scalar, &liar}, old_k{scalar, &interleaved_only};
    w->make_reference(ref_k);
    for (const auto& [k, ok] : {std::pair{ref_k, true}, std::pair{old_k, true}, std::pair{liar_k, false}}) {
        w->poison();
        ASSERT_EQ(w->run(k), BITNET_OK);
        const std::string why = w->check();
        EXPECT_EQ(why.empty(), ok) << (k.desc == &liar ? "liar" : k.desc == ref ? "reference" : "interleaved-only")
                                   << ": " << why;
    }
}

} // namespace
