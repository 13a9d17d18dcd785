// The attention KV cache of n_seq sequences: F16, per layer one K and one V block of n_seq slots,
// each [n_ctx][n_kv_heads*head_dim], reserved once for a fixed context length. A layer's slots are
// evenly spaced (slot_stride()), so one ATTENTION_SEQS call can address every sequence. The memory is mapped lazily (anonymous mmap), so only
// positions actually written become resident: a 4096-position cache costs RSS for the tokens used.
// A device session keeps the same layout in device memory allocated through a plugin's
// bitnet_device_iface (the pointers are then device pointers, used only by that plugin's kernels).
#pragma once

#include <bitnet/plugin.h>

#include <cstddef>
#include <cstdint>

namespace bitnet::model {

class KvCache {
public:
    // Host memory when `device` is null; else one allocation through device->alloc(plugin, ...).
    // Throws std::bad_alloc (host) or std::runtime_error (device allocation refused).
    KvCache(int32_t n_layer, int32_t n_ctx, int32_t kv_width, int32_t n_seq = 1,
            const bitnet_device_iface* device = nullptr, void* plugin = nullptr);
    ~KvCache();
    KvCache(const KvCache&) = delete;
    KvCache& operator=(const KvCache&) = delete;

    int32_t n_ctx() const { return n_ctx_; }
    int32_t width() const { return width_; }   // halves per position
    int32_t n_seq() const { return n_seq_; }
    int64_t slot_stride() const { return int64_t(n_ctx_) * width_; } // halves between sequences
    uint16_t* k(int32_t layer, int32_t seq = 0) { return base_ + (size_t(2 * layer) * n_seq_ + seq) * slot_stride(); }
    uint16_t* v(int32_t layer, int32_t seq = 0) { return base_ + (size_t(2 * layer + 1) * n_seq_ + seq) * slot_stride(); }
    // Bytes reserved (not necessarily resident).
    size_t bytes() const { return bytes_; }
    bool on_device() const { return device_ != nullptr; }
    static size_t bytes_for(int32_t n_layer, int32_t n_ctx, int32_t kv_width, int32_t n_seq = 1) {
        return size_t(2) * n_layer * n_seq * n_ctx * kv_width * sizeof(uint16_t);
    }

private:
    int32_t n_ctx_, width_, n_seq_;
    size_t bytes_;
    uint16_t* base_ = nullptr;
    const bitnet_device_iface* device_ = nullptr;
    void* plugin_ = nullptr;
};

} // namespace bitnet::model
