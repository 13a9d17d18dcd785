// The bitnet_host_api a plugin instance receives: logging into the runtime's logger and
// parallel regions on the runtime's shared thread pool.
#pragma once

#include <bitnet/plugin.h>

namespace bitnet {

class ThreadPool;

class HostApi {
public:
    explicit HostApi(ThreadPool* pool); // pool may be null: single-threaded
    const bitnet_host_api* get() const { return &api_; }
    ThreadPool* pool() const { return pool_; }
private:
    ThreadPool* pool_;
    bitnet_host_api api_{};
};

} // namespace bitnet
