// The attention KV cache of n_seq sequences: F16, per layer one K and one V block of n_seq slots,
// each [n_ctx][n_kv_heads*head_dim] or, head-major, [n_kv_heads][n_ctx][head_dim], reserved once
// for a fixed context length. Head-major is what CPU attention wants: a head's keys are one
// contiguous stream instead of head_dim of every n_kv_heads*head_dim halves (decode attention over
// 4096 keys, one head group, kernel bench, cold: 115-132 us contiguous vs 196-233 us interleaved);
// the host uses it when every kernel that touches the cache reads ABI 1.4's kv_head_stride.
// A layer's slots are evenly spaced (slot_stride()), so one ATTENTION_SEQS call can address every
// sequence. The memory is mapped lazily (anonymous mmap), so only positions actually written
// become resident: a 4096-position cache costs RSS for the tokens used.
// A device session keeps the same layout in device memory allocated through a plugin's
// bitnet_device_iface (the pointers are then device pointers, used only by that plugin's kernels).
#pragma once

#include <bitnet/plugin.h>

#include <cstddef>
#include <cstdint>

namespace bitnet::model {

// Where a cache's values are: position p, KV head h at p*pos_stride + h*(head_stride ? head_stride
// : head_dim) from a slot's start (bitnet_attention_args.kv_stride / kv_head_stride).
struct KvLayout {
    int32_t pos_stride = 0;
    int32_t head_dim = 0;
    int64_t head_stride = 0; // 0: a position's heads side by side
};

class KvCache {
public:
    // Host memory when `device` is null; else one allocation through device->alloc(plugin, ...).
    // Throws std::bad_alloc (host) or std::runtime_error (device allocation refused).
    KvCache(int32_t n_layer, int32_t n_ctx, int32_t n_kv_heads, int32_t head_dim, bool head_major, int32_t n_seq = 1,
            const bitnet_device_iface* device = nullptr, void* plugin = nullptr);
    ~KvCache();
    KvCache(const KvCache&) = delete;
    KvCache& operator=(const KvCache&) = delete;

    int32_t n_ctx() const { return n_ctx_; }
    int32_t width() const { return width_; }   // halves per position
    bool head_major() const { return layout_.head_stride != 0; }
    const KvLayout& layout() const { return layout_; }
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
    KvLayout layout_;
    size_t bytes_;
    uint16_t* base_ = nullptr;
    const bitnet_device_iface* device_ = nullptr;
    void* plugin_ = nullptr;
};

} // namespace bitnet::model
