// Hyper-parameters of a BitNet model, read from GGUF metadata (`<arch>.*` keys) and checked.
#pragma once

#include <bitnet/plugin.h>

#include <cstdint>
#include <string>

namespace bitnet::gguf { class File; }

namespace bitnet::model {

enum class Arch {
    BitnetB158, // "bitnet-b1.58" / "bitnet-25": Microsoft 2B-4T, relu² FFN
    Bitnet,     // "bitnet": llama.cpp's 1bitLLM graph, SiLU-gated FFN
};

struct HParams {
    Arch arch = Arch::BitnetB158;
    std::string arch_name;
    int32_t n_vocab = 0;
    int32_t n_ctx_train = 0;
    int32_t n_embd = 0;
    int32_t n_ff = 0;
    int32_t n_layer = 0;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    int32_t head_dim = 0;
    int32_t n_rot = 0;
    float rms_eps = 1e-5f;
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;
    bitnet_ffn_kind ffn_kind = BITNET_FFN_RELU2;
};

// Throws gguf::GgufError naming the file and key for a missing key, unknown architecture or an
// inconsistent value (e.g. heads not dividing the width).
HParams read_hparams(const gguf::File& file);

} // namespace bitnet::model
