// The model's tensors, used in place from the mmap'd GGUF file: per-layer views, the linear
// weights with their per-tensor scales, and the packed copies kernels asked for.
#pragma once

#include "formats/formats.hpp"
#include "model/hparams.hpp"

#include <bitnet/plugin.h>

#include <string>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace bitnet::gguf { class File; struct TensorInfo; }

namespace bitnet {
class LoadedPlugin;
}

namespace bitnet::model {

// A weight matrix W[N, K] (row n = output n) as the kernels see it.
struct LinearWeight {
    std::string name;
    formats::GgmlType type{};
    bitnet_weight_format wf = BITNET_WF_NONE;
    bitnet_act_type act = BITNET_ACT_F32;   // what the kernels expect as input for this format
    int32_t n = 0, k = 0;
    const uint8_t* data = nullptr;
    size_t size = 0;
    float scale = 1.0f;                     // I2_S tensor scale × optional `.scale` tensor

    // Packed copies made by kernels' pack_weights, one per plugin and pack function: the kernels
    // of a plugin that name the same pack_weights share a copy (plugin.h). Released by ~Weights.
    struct Packed {
        const LoadedPlugin* plugin = nullptr;
        const bitnet_kernel_desc* kernel = nullptr; // the one that packed it (its release_packed frees it)
        void* ptr = nullptr;
        size_t bytes = 0;
    };
    using PackKey = std::pair<const LoadedPlugin*, uintptr_t>; // the plugin, its pack_weights' address
    std::map<PackKey, Packed> packed;
    // Bytes one decode step reads for this weight: the packed copy's size when the kernel routed
    // for M = 1 runs on one (set by Ops::prepare), else 0 and `size` counts.
    size_t decode_bytes = 0;
};

struct LayerWeights {
    const float* attn_norm = nullptr;
    const float* attn_sub_norm = nullptr;
    const float* ffn_norm = nullptr;
    const float* ffn_sub_norm = nullptr;
    LinearWeight wq, wk, wv, wo, w_gate, w_up, w_down;
};

class Weights {
public:
    // Checks every tensor's presence, type and shape against `hp`; throws gguf::GgufError naming
    // the file and tensor.
    Weights(const gguf::File& file, const HParams& hp);
    ~Weights();
    Weights(const Weights&) = delete;
    Weights& operator=(const Weights&) = delete;

    const gguf::TensorInfo* token_embd = nullptr;
    const float* output_norm = nullptr;
    LinearWeight head;                      // output.weight, or the tied token_embd
    bool tied_head = true;
    std::vector<LayerWeights> layers;

    // Every linear weight (for pre-packing and reports).
    std::vector<LinearWeight*> linears();
    // Bytes of weights one decoded token reads (all linears + head, packed copies where the
    // decode kernels run on them), for roofline figures.
    size_t bytes_per_token() const;
    // Extra memory the kernels' packed copies hold.
    size_t packed_bytes() const;

private:
    std::vector<std::vector<float>> norms_; // copies of the norm vectors (see weights.cpp)
};

} // namespace bitnet::model
