// One-time weight upload. Ternary tensors (I2_S, TQ2_0, TQ1_0) are decoded on the host with the
// shared format codecs and re-laid out as 2-bit codes in the dp4a order of cuda_plugin.hpp, so one
// GEMV kernel serves all three formats (TQ1_0's 1.6 bits become 2 on the device: +25% bytes, but
// no base-3 decode in the inner loop). Float heads are uploaded exactly as the file stores them.
#include "cuda_plugin.hpp"

#include "formats/formats.hpp"

#include <atomic>
#include <vector>

namespace bitnet::cuda {
namespace {

formats::GgmlType ggml_type(bitnet_weight_format wf) { return formats::type_info(wf)->type; }

bool is_ternary(bitnet_weight_format wf) {
    return wf == BITNET_WF_I2_S || wf == BITNET_WF_TQ1_0 || wf == BITNET_WF_TQ2_0;
}

// Uploads `bytes` of host memory into a new registered allocation.
bitnet_status upload(Plugin& p, const void* src, size_t bytes, void** out) {
    void* dev = nullptr;
    if (bitnet_status st = device_alloc(p, bytes, &dev); st != BITNET_OK) return st;
    bitnet_status st = check(p, "cuda pack upload", cudaMemcpyAsync(dev, src, bytes, cudaMemcpyHostToDevice, p.stream));
    if (st == BITNET_OK) st = check(p, "cuda pack upload", cudaStreamSynchronize(p.stream));
    if (st != BITNET_OK) {
        device_free(p, dev);
        return st;
    }
    *out = dev;
    return BITNET_OK;
}

} // namespace

bitnet_status pack_ternary(void* plugin, const bitnet_shape* shape, const void* data, size_t size, void** packed,
                           size_t* packed_bytes) noexcept {
    Plugin* p = as_plugin(plugin);
    if (p == nullptr || shape == nullptr || data == nullptr || packed == nullptr || packed_bytes == nullptr)
        return BITNET_ERR_INVALID_ARGUMENT;
    return sdk::guard(p->host, "cuda pack_ternary", [&]() -> bitnet_status {
        const int64_t n = shape->n, k = shape->k;
        const int64_t block = shape->weight_format == BITNET_WF_I2_S ? 128 : 256;
        if (!is_ternary(shape->weight_format) || n <= 0 || k <= 0 || k % block != 0)
            return fail(*p, "cuda pack_ternary", "not a ternary shape this layout supports");
        const formats::GgmlType type = ggml_type(shape->weight_format);
        const auto need = formats::tensor_bytes(type, k, n);
        if (!need || size < *need) return fail(*p, "cuda pack_ternary", "weights smaller than n x k");

        const bool scaled = shape->weight_format != BITNET_WF_I2_S;
        const int64_t nb = (k + 255) / 256, words = k / 16;
        const size_t scales_at = ternary_scales_offset(n, k);
        const size_t total = scaled ? scales_at + size_t(n * nb) * sizeof(float) : ternary_codes_bytes(n, k);
        std::vector<uint8_t> host(total, 0);
        auto* codes_out = reinterpret_cast<uint32_t*>(host.data());
        auto* scales_out = reinterpret_cast<float*>(host.data() + scales_at);

        // Rows are independent: decode them on the host's threads.
        std::atomic<bool> failed{false};
        auto task = [&](int32_t ith, int32_t nth) noexcept {
            try {
                std::vector<int8_t> codes(static_cast<size_t>(k));
                std::vector<float> bs(static_cast<size_t>(nb + 1));
                const sdk::Range r = sdk::split(n, ith, nth);
                for (int64_t row = r.begin; row < r.end; ++row) {
                    formats::ternary_row_codes(type, data, row, k, codes.data(), bs.data());
                    uint32_t* w = codes_out + row * words;
                    for (int64_t i = 0; i < words; ++i) {
                        uint32_t v = 0;
                        for (int j = 0; j < 4; ++j)
                            for (int b = 0; b < 4; ++b)
                                v |= uint32_t(codes[16 * i + 4 * j + b] + 1) << (8 * b + 2 * j);
                        w[i] = v;
                    }
                    if (scaled)
                        for (int64_t b = 0; b < nb; ++b) scales_out[row * nb + b] = bs[b];
                }
            } catch (...) {
                failed = true;
            }
        };
        sdk::parallel_for(p->host, task);
        if (failed) return fail(*p, "cuda pack_ternary", "decoding the weights failed", BITNET_ERR_INTERNAL);
        if (bitnet_status st = upload(*p, host.data(), host.size(), packed); st != BITNET_OK) return st;
        *packed_bytes = host.size();
        return BITNET_OK;
    });
}

bitnet_status pack_copy(void* plugin, const bitnet_shape* shape, const void* data, size_t size, void** packed,
                        size_t* packed_bytes) noexcept {
    Plugin* p = as_plugin(plugin);
    if (p == nullptr || shape == nullptr || data == nullptr || packed == nullptr || packed_bytes == nullptr)
        return BITNET_ERR_INVALID_ARGUMENT;
    return sdk::guard(p->host, "cuda pack_copy", [&]() -> bitnet_status {
        const auto need = formats::tensor_bytes(ggml_type(shape->weight_format), shape->k, shape->n);
        if (!need || size < *need) return fail(*p, "cuda pack_copy", "weights smaller than n x k");
        if (bitnet_status st = upload(*p, data, *need, packed); st != BITNET_OK) return st;
        *packed_bytes = *need;
        return BITNET_OK;
    });
}

void release_packed(void* plugin, void* packed) noexcept {
    if (Plugin* p = as_plugin(plugin)) device_free(*p, packed);
}

} // namespace bitnet::cuda
