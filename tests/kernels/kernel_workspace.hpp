// The scratch a kernel asks for through workspace_size, sized for one call's shape and 64-byte
// aligned as the host provides it, and the packed weights it asks for through pack_weights.
// Shared by the conformance tests and the kernel benchmarks so both run a kernel exactly as the
// runtime does.
#pragma once

#include <bitnet/plugin.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bitnet::testing {

class KernelWorkspace {
public:
    KernelWorkspace(const bitnet_kernel_desc& k, void* handle, const bitnet_shape& shape) {
        if (k.workspace_size == nullptr) return;
        const size_t bytes = k.workspace_size(handle, &shape);
        if (bytes == 0) return;
        buf_.resize(bytes + 64);
        ptr_ = buf_.data() + (64 - reinterpret_cast<uintptr_t>(buf_.data()) % 64) % 64;
    }
    // nullptr when the kernel needs none.
    void* get() const { return ptr_; }

private:
    std::vector<std::byte> buf_;
    void* ptr_ = nullptr;
};

// The packed copy of a weight that a kernel asks for through pack_weights, made as the host
// makes it and freed with the kernel's release_packed. get() is nullptr for a kernel without
// pack_weights (it runs on the file's bytes).
class KernelPacked {
public:
    KernelPacked(const bitnet_kernel_desc& k, void* handle, const bitnet_shape& shape, const void* data, size_t size)
        : k_(k), handle_(handle) {
        if (k.pack_weights != nullptr) status_ = k.pack_weights(handle, &shape, data, size, &ptr_, &bytes_);
    }
    ~KernelPacked() {
        if (ptr_ != nullptr && k_.release_packed != nullptr) k_.release_packed(handle_, ptr_);
    }
    KernelPacked(const KernelPacked&) = delete;
    KernelPacked& operator=(const KernelPacked&) = delete;
    bitnet_status status() const { return status_; }
    void* get() const { return ptr_; }
    size_t bytes() const { return bytes_; }

private:
    const bitnet_kernel_desc& k_;
    void* handle_;
    bitnet_status status_ = BITNET_OK;
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
};

inline bitnet_shape matmul_shape(const bitnet_kernel_desc& k, int32_t m, int32_t n, int32_t kk) {
    return bitnet_shape{sizeof(bitnet_shape), BITNET_OP_MATMUL, k.weight_format, k.act_type, m, n, kk, 0, 0, 0};
}

} // namespace bitnet::testing
