// Loading a built plugin in a test: dlopen() from the build tree's plugin folder, a host_api whose
// parallel_for runs each part on its own std::thread, and an instance with kernel lookup by name.
// Written for the scalar plugin's tests; conformance tests of other plugins reuse it to run the
// same arguments through two plugins.
#pragma once

#include <bitnet/plugin.h>

#include <dlfcn.h>
#include <unistd.h> // before test_env.hpp, which uses ::getpid ahead of its own include of it

#include "test_env.hpp"

#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bitnet::testing {

// The shared object of plugin `name` in the build tree (bitnet_add_plugin's naming).
inline std::filesystem::path plugin_library(const std::string& name) {
    return build_plugin_dir() / ("libbitnet-" + name + ".so");
}

// A dlopen()ed plugin and its descriptor; unloads on destruction (after every instance is gone).
class LoadedPlugin {
public:
    explicit LoadedPlugin(const std::filesystem::path& path) {
        handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle_ == nullptr) throw std::runtime_error("dlopen " + path.string() + ": " + ::dlerror());
        auto entry = reinterpret_cast<bitnet_plugin_entry_fn>(::dlsym(handle_, BITNET_PLUGIN_ENTRY_SYMBOL));
        if (entry == nullptr) throw std::runtime_error(path.string() + " has no " BITNET_PLUGIN_ENTRY_SYMBOL);
        desc_ = entry();
        if (desc_ == nullptr) throw std::runtime_error(path.string() + ": entry returned NULL");
    }
    ~LoadedPlugin() {
        if (handle_ != nullptr) ::dlclose(handle_);
    }
    LoadedPlugin(const LoadedPlugin&) = delete;
    LoadedPlugin& operator=(const LoadedPlugin&) = delete;

    const bitnet_plugin_descriptor& desc() const { return *desc_; }

private:
    void* handle_ = nullptr;
    const bitnet_plugin_descriptor* desc_ = nullptr;
};

// A host with `n_threads` workers: every parallel_for starts that many std::threads (part 0 runs
// on the caller) and joins them. Slow to start, but it exercises real concurrency, which is what
// the tests need. Log lines are kept for inspection.
class ThreadHost {
public:
    explicit ThreadHost(int32_t n_threads) {
        api_.struct_size = sizeof(bitnet_host_api);
        api_.abi_version = BITNET_PLUGIN_ABI_VERSION;
        api_.host_ctx = this;
        api_.log = &ThreadHost::log_cb;
        api_.parallel_for = &ThreadHost::parallel_for_cb;
        api_.n_threads = n_threads;
    }
    ThreadHost(const ThreadHost&) = delete;
    ThreadHost& operator=(const ThreadHost&) = delete;

    const bitnet_host_api* api() const { return &api_; }
    std::vector<std::string> logs() const {
        std::lock_guard lock(mu_);
        return logs_;
    }

private:
    static void log_cb(void* ctx, bitnet_log_level, const char* msg) {
        auto* self = static_cast<ThreadHost*>(ctx);
        std::lock_guard lock(self->mu_);
        self->logs_.emplace_back(msg);
    }
    static void parallel_for_cb(void* ctx, bitnet_task_fn fn, void* user) {
        const int32_t nth = static_cast<ThreadHost*>(ctx)->api_.n_threads;
        // The ABI: a nested call runs every part inline instead of deadlocking the pool.
        thread_local bool in_task = false;
        if (in_task || nth <= 1) {
            for (int32_t i = 0; i < nth; ++i) fn(user, i, nth);
            return;
        }
        std::vector<std::thread> workers;
        for (int32_t i = 1; i < nth; ++i)
            workers.emplace_back([=] {
                in_task = true;
                fn(user, i, nth);
            });
        in_task = true;
        fn(user, 0, nth);
        in_task = false;
        for (auto& w : workers) w.join();
    }

    bitnet_host_api api_{};
    mutable std::mutex mu_;
    std::vector<std::string> logs_;
};

// One instance of a loaded plugin on a host.
class PluginInstance {
public:
    PluginInstance(const LoadedPlugin& lib, const ThreadHost& host) : desc_(&lib.desc()) {
        if (desc_->create(host.api(), &handle_) != BITNET_OK || handle_ == nullptr)
            throw std::runtime_error(std::string("create failed for plugin ") + desc_->name);
        kernels_ = desc_->get_kernels(handle_, &count_);
    }
    ~PluginInstance() { desc_->destroy(handle_); }
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    void* handle() const { return handle_; }
    const bitnet_kernel_desc* begin() const { return kernels_; }
    const bitnet_kernel_desc* end() const { return kernels_ + count_; }
    size_t size() const { return count_; }

    // nullptr when the plugin has no kernel of that name.
    const bitnet_kernel_desc* find(std::string_view name) const {
        for (const auto& k : *this)
            if (name == k.name) return &k;
        return nullptr;
    }
    // Runs kernel `name` (which must exist) on `args`.
    template <class Args>
    bitnet_status run(std::string_view name, const Args& args) const {
        const bitnet_kernel_desc* k = find(name);
        if (k == nullptr) throw std::runtime_error("no kernel " + std::string(name));
        return k->run(handle_, &args, nullptr);
    }

private:
    const bitnet_plugin_descriptor* desc_;
    void* handle_ = nullptr;
    const bitnet_kernel_desc* kernels_ = nullptr;
    size_t count_ = 0;
};

} // namespace bitnet::testing
