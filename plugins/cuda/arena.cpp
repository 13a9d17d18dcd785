// The driver's virtual memory calls are fetched through the runtime (cudaGetDriverEntryPoint…),
// so the plugin still links only the static runtime and loads on machines without a driver.
#include "arena.hpp"

#include <cuda.h>
#include <cuda_runtime.h>

namespace bitnet::cuda {

struct Arena::Driver {
    CUresult (*mem_get_granularity)(size_t*, const CUmemAllocationProp*, CUmemAllocationGranularity_flags) = nullptr;
    CUresult (*address_reserve)(CUdeviceptr*, size_t, size_t, CUdeviceptr, unsigned long long) = nullptr;
    CUresult (*address_free)(CUdeviceptr, size_t) = nullptr;
    CUresult (*create)(CUmemGenericAllocationHandle*, size_t, const CUmemAllocationProp*, unsigned long long) = nullptr;
    CUresult (*release)(CUmemGenericAllocationHandle) = nullptr;
    CUresult (*map)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long) = nullptr;
    CUresult (*unmap)(CUdeviceptr, size_t) = nullptr;
    CUresult (*set_access)(CUdeviceptr, size_t, const CUmemAccessDesc*, size_t) = nullptr;
    CUmemAllocationProp prop{};

    template <class Fn>
    static bool get(const char* symbol, Fn& fn) {
        void* ptr = nullptr;
        cudaDriverEntryPointQueryResult found{};
        // 12000: the signatures above are the CUDA 12.0 ones (unchanged since 10.2).
        if (cudaGetDriverEntryPointByVersion(symbol, &ptr, 12000, cudaEnableDefault, &found) != cudaSuccess ||
            found != cudaDriverEntryPointSuccess || ptr == nullptr)
            return false;
        fn = reinterpret_cast<Fn>(ptr);
        return true;
    }
};

namespace {
constexpr size_t kAlign = 256;
size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
} // namespace

Arena::Arena() = default;
Arena::~Arena() { release_all(); }

bool Arena::init(int device, size_t capacity, std::string& why) noexcept {
    try {
        auto d = std::make_unique<Driver>();
        CUresult (*device_get)(CUdevice*, int) = nullptr;
        CUresult (*device_attribute)(int*, CUdevice_attribute, CUdevice) = nullptr;
        CUdevice dev = 0;
        int vmm = 0;
        if (!Driver::get("cuDeviceGet", device_get) || !Driver::get("cuDeviceGetAttribute", device_attribute) ||
            device_get(&dev, device) != CUDA_SUCCESS ||
            device_attribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, dev) != CUDA_SUCCESS ||
            vmm == 0) {
            why = "the device does not support virtual memory management";
            return false;
        }
        if (!Driver::get("cuMemGetAllocationGranularity", d->mem_get_granularity) ||
            !Driver::get("cuMemAddressReserve", d->address_reserve) || !Driver::get("cuMemAddressFree", d->address_free) ||
            !Driver::get("cuMemCreate", d->create) || !Driver::get("cuMemRelease", d->release) ||
            !Driver::get("cuMemMap", d->map) || !Driver::get("cuMemUnmap", d->unmap) ||
            !Driver::get("cuMemSetAccess", d->set_access)) {
            why = "the driver does not export the cuMem* virtual memory calls";
            return false;
        }
        d->prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
        d->prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
        d->prop.location.id = device;
        size_t gran = 0;
        if (d->mem_get_granularity(&gran, &d->prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM) != CUDA_SUCCESS || gran == 0) {
            why = "cuMemGetAllocationGranularity failed";
            return false;
        }
        const size_t reserve = round_up(capacity, gran);
        CUdeviceptr base = 0;
        if (d->address_reserve(&base, reserve, 0, 0, 0) != CUDA_SUCCESS || base == 0) {
            why = "cuMemAddressReserve failed";
            return false;
        }
        drv_ = std::move(d);
        device_ = device;
        base_ = uintptr_t(base);
        reserved_ = reserve;
        granularity_ = gran;
        return true;
    } catch (...) {
        why = "out of host memory";
        return false;
    }
}

bool Arena::grow(size_t top) noexcept {
    if (top <= mapped_) return true;
    if (top > reserved_) return false;
    const size_t bytes = round_up(top - mapped_, granularity_);
    CUmemGenericAllocationHandle h = 0;
    if (drv_->create(&h, bytes, &drv_->prop, 0) != CUDA_SUCCESS) return false;
    const CUdeviceptr at = CUdeviceptr(base_ + mapped_);
    CUmemAccessDesc access{};
    access.location = drv_->prop.location;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    if (drv_->map(at, bytes, 0, h, 0) != CUDA_SUCCESS) {
        drv_->release(h);
        return false;
    }
    if (drv_->set_access(at, bytes, &access, 1) != CUDA_SUCCESS) {
        drv_->unmap(at, bytes);
        drv_->release(h);
        return false;
    }
    try {
        chunks_.push_back({mapped_, bytes, static_cast<unsigned long long>(h)});
    } catch (...) {
        drv_->unmap(at, bytes);
        drv_->release(h);
        return false;
    }
    mapped_ += bytes;
    return true;
}

void* Arena::alloc(size_t bytes) noexcept {
    if (!ready()) return nullptr;
    const size_t need = round_up(bytes == 0 ? 1 : bytes, kAlign);
    try {
        for (auto it = free_.begin(); it != free_.end(); ++it) {
            if (it->second < need) continue;
            const size_t at = it->first, rest = it->second - need;
            free_.erase(it);
            if (rest > 0) free_.emplace(at + need, rest);
            live_.emplace(at, need);
            return reinterpret_cast<void*>(base_ + at);
        }
        if (!grow(top_ + need)) return nullptr;
        const size_t at = top_;
        live_.emplace(at, need);
        top_ += need;
        return reinterpret_cast<void*>(base_ + at);
    } catch (...) {
        return nullptr;
    }
}

bool Arena::free(void* ptr) noexcept {
    const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
    if (!ready() || p < base_ || p >= base_ + reserved_) return false;
    auto it = live_.find(size_t(p - base_));
    if (it == live_.end()) return false;
    size_t at = it->first, bytes = it->second;
    live_.erase(it);
    // Coalesce with the free neighbours.
    if (auto next = free_.find(at + bytes); next != free_.end()) {
        bytes += next->second;
        free_.erase(next);
    }
    if (auto next = free_.lower_bound(at); next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == at) {
            at = prev->first;
            bytes += prev->second;
            free_.erase(prev);
        }
    }
    if (at + bytes == top_) {
        top_ = at;
        shrink();
    } else {
        try {
            free_.emplace(at, bytes);
        } catch (...) {
            // Losing track of a free range only wastes it until the arena is released.
        }
    }
    return true;
}

void Arena::shrink() noexcept {
    if (chunks_.empty() || chunks_.back().offset < top_) return;
    // Kernels may still read memory being unmapped: wait for everything issued so far.
    cudaDeviceSynchronize();
    while (!chunks_.empty() && chunks_.back().offset >= top_) {
        const Chunk c = chunks_.back();
        chunks_.pop_back();
        drv_->unmap(CUdeviceptr(base_ + c.offset), c.bytes);
        drv_->release(CUmemGenericAllocationHandle(c.handle));
        mapped_ = c.offset;
    }
}

void Arena::release_all() noexcept {
    if (!ready()) return;
    live_.clear();
    free_.clear();
    top_ = 0;
    shrink();
    drv_->address_free(CUdeviceptr(base_), reserved_);
    base_ = 0;
}

} // namespace bitnet::cuda
