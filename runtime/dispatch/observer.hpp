// A hook the adaptive kernel manager installs on a Router to watch kernels while the model runs.
// Ops calls it only when one is installed, so an engine without adaptation pays one pointer test.
#pragma once

#include <bitnet/plugin.h>

#include <cstdint>

namespace bitnet {

struct KernelRef;

class KernelObserver {
public:
    virtual ~KernelObserver() = default;
    // `kernel` (order position `position` of the router's list for `shape`) finished `shape` with
    // BITNET_OK in `ns` nanoseconds. Runs on the calling thread, between kernel calls, so it may call
    // Router::set_order; it must not allocate on its steady path (the decode loop is allocation-free).
    virtual void on_kernel_run(const bitnet_shape& shape, const KernelRef& kernel, int64_t ns) = 0;
};

} // namespace bitnet
