// The kernel manager's problems: attention checks a kernel on the cache layout a CPU session gives
// it (a kernel that says it reads ABI 1.4's head-major layout but does not is refused); decode
// matmul timing cycles through the model's weights of one signature.
#include "dispatch/signature.hpp"
#include "tuning/workload.hpp"

#include "core/thread_pool.hpp"
#include "plugin/plugin_registry.hpp"
#include "test_env.hpp"
#include "tuning_fixture.hpp"

#include <gtest/gtest.h>

#include <set>

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

// What a recording matmul kernel was given, call by call.
std::vector<const void*> g_seen;
bitnet_status records_weights(void*, const void* args, void*) {
    g_seen.push_back(static_cast<const bitnet_matmul_args*>(args)->w->data);
    return BITNET_OK;
}
int g_packs = 0;
bitnet_status fake_pack(void*, const bitnet_shape*, const void*, size_t, void** packed, size_t* bytes) {
    *packed = &g_packs;
    *bytes = 1;
    ++g_packs;
    return BITNET_OK;
}
void fake_release(void*, void*) {}

TEST(MatmulWorkload, DecodeTimingCyclesThroughEveryLayersWeightOfTheSignature) {
    bitnet::testing::TuningEnv env({});
    auto model = bitnet::testing::tiny_model();
    bitnet::model::Ops ops(*env.router);
    bitnet::Scratch scratch;
    const auto targets = bitnet::tuning::model_targets(*model, 8, 64);
    const bitnet::tuning::TuneTarget* q = nullptr; // the decode signature of the attention projections
    for (const auto& t : targets)
        if (t.shape.op == BITNET_OP_MATMUL && t.shape.m == 1 && t.weight == &model->weights().layers[0].wq) q = &t;
    ASSERT_NE(q, nullptr);
    // Every layer's wq (and wo, the same shape) is one signature: one target, the rest alike.
    const int32_t layers = model->hparams().n_layer;
    std::set<const void*> all{q->weight->data};
    for (const auto* w : q->alike) {
        EXPECT_EQ(w->n, q->weight->n);
        EXPECT_EQ(w->k, q->weight->k);
        EXPECT_EQ(w->wf, q->weight->wf);
        all.insert(w->data);
    }
    EXPECT_GE(static_cast<int32_t>(all.size()), layers);
    EXPECT_EQ(all.size(), q->alike.size() + 1) << "each weight once";
    for (const auto& t : targets) { // the prefill bucket's target lists the same weights
        if (t.shape.m > 1 && t.weight == q->weight) {
            EXPECT_EQ(t.alike.size(), q->alike.size());
        }
    }

    const auto* scalar = env.registry.find("scalar");
    ASSERT_NE(scalar, nullptr);
    const bitnet_kernel_desc* ref = nullptr;
    for (const bitnet_kernel_desc* k : scalar->kernels())
        if (k->op == BITNET_OP_MATMUL && k->weight_format == q->shape.weight_format && k->act_type == q->shape.act_type)
            ref = k;
    ASSERT_NE(ref, nullptr);
    bitnet_kernel_desc recorder = *ref, packer = *ref;
    recorder.run = packer.run = records_weights;
    packer.pack_weights = fake_pack;
    packer.release_packed = fake_release;
    auto w = bitnet::tuning::make_workload(*q, ops, scratch, 7);
    const bitnet::KernelRef rec{scalar, &recorder}, pk{scalar, &packer};

    g_seen.clear();
    for (size_t i = 0; i < 2 * all.size(); ++i) ASSERT_EQ(w->run_timed(rec), BITNET_OK);
    EXPECT_EQ(std::set<const void*>(g_seen.begin(), g_seen.end()), all) << "timing reads every layer's copy";
    g_seen.clear();
    ASSERT_EQ(w->run(rec), BITNET_OK);
    ASSERT_EQ(w->run(rec), BITNET_OK);
    EXPECT_EQ(std::set<const void*>(g_seen.begin(), g_seen.end()), std::set<const void*>{q->weight->data})
        << "checked runs stay on the weight the reference saw";
    // A kernel on packed copies is timed on the one copy tuning packed.
    g_seen.clear();
    for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(w->run_timed(pk), BITNET_OK);
    EXPECT_EQ(std::set<const void*>(g_seen.begin(), g_seen.end()), std::set<const void*>{q->weight->data});
    EXPECT_EQ(g_packs, 1);
    // The report says which timings were cold.
    EXPECT_NE(w->timing_note(rec).find("cold"), std::string::npos) << w->timing_note(rec);
    EXPECT_EQ(w->timing_note(pk), "");
}

} // namespace
