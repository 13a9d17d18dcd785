#include "dispatch/op_profile.hpp"

#include "dispatch/signature.hpp"
#include "formats/formats.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <vector>

namespace bitnet {

void OpProfile::on_kernel_run(const bitnet_shape& shape, const KernelRef& kernel, int64_t ns) {
    const Key key{int(shape.op), int(shape.weight_format), int(shape.act_type), shape.m, shape.n, shape.k,
                  shape.n_heads, kernel.desc};
    // One allocation per distinct row, on its first call; the steady state only adds.
    Entry& e = entries_[key];
    if (e.calls == 0) {
        e.shape = shape;
        e.kernel = kernel;
    }
    ++e.calls;
    e.ns += ns;
    if (next_ != nullptr) next_->on_kernel_run(shape, kernel, ns);
}

nlohmann::json OpProfile::report(double units, double wall_s) const {
    std::vector<const Entry*> rows;
    int64_t total_ns = 0;
    for (const auto& [key, e] : entries_) {
        rows.push_back(&e);
        total_ns += e.ns;
    }
    std::sort(rows.begin(), rows.end(), [](const Entry* a, const Entry* b) { return a->ns > b->ns; });
    const double per = units > 0 ? 1.0 / units : 0.0;
    nlohmann::json out = {{"total_ms_per_unit", wall_s * 1e3 * per}, {"kernels_ms_per_unit", double(total_ns) * 1e-6 * per}};
    nlohmann::json list = nlohmann::json::array();
    for (const Entry* e : rows) {
        nlohmann::json r = {{"signature", signature_string(e->shape)},
                            {"kernel", e->kernel.label()},
                            {"calls_per_unit", double(e->calls) * per},
                            {"ms_per_unit", double(e->ns) * 1e-6 * per},
                            {"share", wall_s > 0 ? double(e->ns) * 1e-9 / wall_s : 0.0}};
        if (e->shape.op == BITNET_OP_MATMUL && e->shape.weight_format != BITNET_WF_NONE && e->ns > 0) {
            const auto* info = formats::type_info(e->shape.weight_format);
            const auto bytes = info ? formats::tensor_bytes(info->type, e->shape.k, e->shape.n) : std::nullopt;
            if (bytes) r["weight_gbs"] = double(*bytes) * double(e->calls) / double(e->ns);
        }
        list.push_back(std::move(r));
    }
    out["rows"] = std::move(list);
    return out;
}

} // namespace bitnet
