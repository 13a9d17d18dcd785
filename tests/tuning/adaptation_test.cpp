// Runtime adaptation: a kernel that turns slow mid-run (BITNET_TEST_DEGRADE, read by the
// test-degrade plugin on every call) is re-measured and routed away from within the promised
// window: 2 x window + probe_calls x candidates calls of the signature.
#include "tuning_fixture.hpp"

#include <algorithm>
#include <cstdlib>

namespace {

using namespace bitnet;
using tuning::AdaptEvent;

TEST(Adaptation, SustainedSlowdownReroutesWithinTheWindow) {
    ::unsetenv("BITNET_TEST_DEGRADE");
    const auto cache = bitnet::testing::make_temp_dir("tune-adapt");
    bitnet::testing::TuningEnv env({"degrade"}, {}, 1);
    auto model = bitnet::testing::tiny_model();
    auto o = bitnet::testing::options(cache, "full");
    o.adapt = true;
    o.adapt_options = {8, 3.0, 3};
    tuning::KernelManager km(*env.router, o);
    km.tune(*model, 16, 64);
    ASSERT_NE(km.monitor(), nullptr);
    ASSERT_EQ(env.router->observer(), km.monitor());

    const auto& wq = model->weights().layers[0].wq;
    const auto decode = make_shape(BITNET_OP_MATMUL, wq.wf, wq.act, 1, wq.n, wq.k);
    // On shapes this small, tuning may pick either kernel, and its figure is noisy on a shared
    // machine: start from the healthy test kernel, with the baseline learnt from the first window.
    std::vector<KernelRef> start = env.router->order(decode);
    std::stable_partition(start.begin(), start.end(), [](const KernelRef& k) { return k.plugin->name() == "test-degrade"; });
    ASSERT_EQ(start.front().plugin->name(), "test-degrade");
    env.router->set_order(decode, start);
    km.monitor()->set_baseline(decode, 0);
    const size_t n_candidates = start.size();

    model::SessionOptions so;
    so.n_ctx = 64;
    so.n_batch = 16;
    model::Session session(*model, *env.router, so);
    std::vector<float> logits;
    int32_t tok = 1;
    auto step = [&] { session.decode(std::span<const int32_t>(&tok, 1), false, logits); };
    for (int i = 0; i < 8; ++i) step();
    ASSERT_GE(km.monitor()->calls(decode), 8) << "the healthy phase must fill a window";
    for (const auto& e : km.monitor()->events())
        EXPECT_NE(e.signature, signature_string(decode)) << "no re-route while the kernel is healthy";

    ::setenv("BITNET_TEST_DEGRADE", "1", 1);
    const int64_t slow_from = km.monitor()->calls(decode);
    auto rerouted = [&]() -> const AdaptEvent* {
        for (const auto& e : km.monitor()->events())
            if (e.signature == signature_string(decode)) return &e;
        return nullptr;
    };
    for (int i = 0; i < 40 && rerouted() == nullptr; ++i) step();
    ::unsetenv("BITNET_TEST_DEGRADE");

    const AdaptEvent* ev = rerouted();
    ASSERT_NE(ev, nullptr) << "no re-route after " << km.monitor()->calls(decode) - slow_from << " slow calls";
    EXPECT_EQ(ev->from, env.router->order(decode).back().label()); // the degraded kernel is now last
    EXPECT_NE(env.router->route(decode).plugin->name(), "test-degrade");
    const int64_t limit = 2 * 8 + 3 * int64_t(n_candidates);
    EXPECT_LE(ev->call - slow_from, limit) << "re-routed after " << ev->call - slow_from << " calls";
    std::filesystem::remove_all(cache);
}

} // namespace
