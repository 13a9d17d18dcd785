#include "plugin/host_api.hpp"

#include "core/log.hpp"
#include "core/thread_pool.hpp"

namespace bitnet {

namespace {
void host_log(void* /*ctx*/, bitnet_log_level level, const char* msg) {
    if (msg == nullptr) return;
    switch (level) {
    case BITNET_LOG_DEBUG: logger().debug("plugin: {}", msg); break;
    case BITNET_LOG_INFO: logger().info("plugin: {}", msg); break;
    case BITNET_LOG_WARN: logger().warn("plugin: {}", msg); break;
    default: logger().error("plugin: {}", msg); break;
    }
}

void host_parallel_for(void* ctx, bitnet_task_fn fn, void* user) {
    if (fn == nullptr) return;
    auto* pool = static_cast<ThreadPool*>(ctx);
    if (pool == nullptr) {
        fn(user, 0, 1);
        return;
    }
    pool->run(fn, user);
}
} // namespace

HostApi::HostApi(ThreadPool* pool) : pool_(pool) {
    api_.struct_size = sizeof(bitnet_host_api);
    api_.abi_version = BITNET_PLUGIN_ABI_VERSION;
    api_.host_ctx = pool;
    api_.log = host_log;
    api_.parallel_for = host_parallel_for;
    // Kernels split a region into n_threads parts; the pool spreads them over its threads.
    api_.n_threads = pool ? pool->parts() : 1;
}

} // namespace bitnet
