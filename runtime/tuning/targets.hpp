// The signatures a loaded model will ask the router for: every distinct matmul (per weight shape
// and format), activation quantization and attention, at the decode (M=1) and prefill (M=n_batch)
// batch buckets.
#pragma once

#include "model/model.hpp"

#include <bitnet/plugin.h>

#include <string_view>
#include <vector>

namespace bitnet::tuning {

struct TuneTarget {
    bitnet_shape shape{};
    model::LinearWeight* weight = nullptr; // matmul: the model's own weight bytes to verify on
    int32_t n_past = 0;                    // attention: cache positions before the batch
    // matmul: the model's other weights of this signature (the other layers'), which decode timing
    // cycles through so the bytes come from memory as in a decode step, not from a warm cache.
    std::vector<model::LinearWeight*> alike = {};
};

// Decode signatures first (they dominate generation and get the budget first), the head last in
// each bucket. `n_batch` and `n_ctx` are what the Session will use (n_batch <= n_ctx).
std::vector<TuneTarget> model_targets(model::Model& model, int32_t n_batch, int32_t n_ctx);

// Work of one call of `t`'s signature: arithmetic operations and bytes moved (for GOP/s, GB/s).
void work_of(const TuneTarget& t, double& ops, double& bytes);

// "decode" for M=1, else "prefill": the batch bucket a shape's M falls in.
std::string_view batch_bucket(int32_t m);

// True when `a` and `b` are the same signature apart from M's exact value within one bucket
// (a prefill remainder routes like the tuned prefill batch).
bool same_family(const bitnet_shape& a, const bitnet_shape& b);

} // namespace bitnet::tuning
