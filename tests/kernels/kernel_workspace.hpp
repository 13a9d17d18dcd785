// The scratch a kernel asks for through workspace_size, sized for one call's shape and 64-byte
// aligned as the host provides it. Shared by the conformance tests and the kernel benchmarks so
// both run a kernel exactly as the runtime does.
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

inline bitnet_shape matmul_shape(const bitnet_kernel_desc& k, int32_t m, int32_t n, int32_t kk) {
    return bitnet_shape{sizeof(bitnet_shape), BITNET_OP_MATMUL, k.weight_format, k.act_type, m, n, kk, 0, 0, 0};
}

} // namespace bitnet::testing
