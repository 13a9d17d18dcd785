#include "tuning/targets.hpp"

#include "dispatch/signature.hpp"
#include "formats/formats.hpp"

#include <algorithm>
#include <unordered_map>

namespace bitnet::tuning {

std::string_view batch_bucket(int32_t m) { return m <= 1 ? "decode" : "prefill"; }

bool same_family(const bitnet_shape& a, const bitnet_shape& b) {
    bitnet_shape x = a, y = b;
    x.m = y.m = 0;
    return ShapeKey(x) == ShapeKey(y) && batch_bucket(a.m) == batch_bucket(b.m);
}

void work_of(const TuneTarget& t, double& ops, double& bytes) {
    const auto& s = t.shape;
    const double m = s.m;
    switch (s.op) {
    case BITNET_OP_MATMUL: {
        const size_t row = t.weight ? formats::row_bytes(t.weight->type, s.k).value_or(0) : 0;
        ops = 2.0 * m * s.n * s.k;
        bytes = double(row) * s.n + m * s.k + 4.0 * m * s.n;
        return;
    }
    case BITNET_OP_ATTENTION: {
        double pairs = 0; // causal: token i attends to n_past + i + 1 positions
        for (int32_t i = 0; i < s.m; ++i) pairs += t.n_past + i + 1;
        ops = 4.0 * pairs * s.n_heads * s.head_dim;
        bytes = 2.0 * 2.0 * (t.n_past + m) * s.n_kv_heads * s.head_dim + 8.0 * m * s.n_heads * s.head_dim;
        return;
    }
    default:
        ops = 3.0 * m * s.n;
        bytes = 5.0 * m * s.n; // f32 in, int8 out
    }
}

std::vector<TuneTarget> model_targets(model::Model& model, int32_t n_batch, int32_t n_ctx) {
    const auto& hp = model.hparams();
    auto& W = model.weights();
    std::vector<TuneTarget> out;
    std::unordered_map<ShapeKey, size_t, ShapeKeyHash> seen; // -> index in out
    auto add = [&](const TuneTarget& t) {
        const auto [it, fresh] = seen.emplace(ShapeKey(t.shape), out.size());
        if (fresh) out.push_back(t);
        else if (t.weight != nullptr && t.weight != out[it->second].weight) out[it->second].alike.push_back(t.weight);
    };
    std::vector<int32_t> ms{1};
    if (n_batch > 1) ms.push_back(n_batch);
    for (int32_t m : ms) {
        for (model::LinearWeight* w : W.linears()) {
            if (w == &W.head) continue;
            if (w->act != BITNET_ACT_F32)
                add({make_shape(BITNET_OP_QUANTIZE_ACT, BITNET_WF_NONE, w->act, m, w->k, 0), nullptr, 0});
            add({make_shape(BITNET_OP_MATMUL, w->wf, w->act, m, w->n, w->k), w, 0});
        }
        // Decode attends over a partly filled cache; prefill is measured from an empty one.
        const int32_t n_past = m == 1 ? std::max(0, std::min(n_ctx - 1, 255)) : 0;
        add({make_attention_shape(m, hp.n_head, hp.n_head_kv, hp.head_dim), nullptr, n_past});
        add({make_shape(BITNET_OP_MATMUL, W.head.wf, W.head.act, m, W.head.n, W.head.k), &W.head, 0});
    }
    return out;
}

} // namespace bitnet::tuning
