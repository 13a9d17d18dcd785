// CUDA-graph capture of a decode step, offered through get_proc_address (docs/plugin-abi.md):
//
//   bitnet_status bitnet_cuda_graph_begin(void* plugin, const int32_t* n_past_device, int32_t max_keys)
//   bitnet_status bitnet_cuda_graph_end(void* plugin, void** graph)     // *graph NULL on failure
//   bitnet_status bitnet_cuda_graph_launch(void* plugin, void* graph)
//   void          bitnet_cuda_graph_destroy(void* plugin, void* graph)
//
// Between begin and end the kernels the host runs are recorded, not executed. The only argument
// that changes from one decode step to the next is n_past (positions already live in a device
// buffer the host rewrites): while capturing, kv_store and attention read it from
// `n_past_device` (an int32 the host updates with copy_to_device before each launch) and size
// their grids for `max_keys` (the context length) so one graph serves every step.
#include "cuda_plugin.hpp"

#include <cstring>

namespace bitnet::cuda {
namespace {

bitnet_status graph_begin(void* plugin, const int32_t* n_past_device, int32_t max_keys) {
    Plugin* p = as_plugin(plugin);
    if (p == nullptr || max_keys <= 0) return BITNET_ERR_INVALID_ARGUMENT;
    if (p->dyn_n_past != nullptr) return fail(*p, "cuda graph_begin", "a capture is already in progress");
    if (!on_device(*p, n_past_device, sizeof(int32_t)))
        return fail(*p, "cuda graph_begin", "n_past_device is not device memory of this plugin");
    // Relaxed: scratch may still grow (cudaMalloc) while the step is being recorded.
    if (bitnet_status st = check(*p, "cuda graph_begin", cudaStreamBeginCapture(p->stream, cudaStreamCaptureModeRelaxed));
        st != BITNET_OK)
        return st;
    p->dyn_n_past = n_past_device;
    p->dyn_max_keys = max_keys;
    return BITNET_OK;
}

bitnet_status graph_end(void* plugin, void** out) {
    Plugin* p = as_plugin(plugin);
    if (p == nullptr || out == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    *out = nullptr;
    p->dyn_n_past = nullptr;
    p->dyn_max_keys = 0;
    cudaGraph_t graph = nullptr;
    // Ends the capture even when a kernel failed to launch inside it (the capture is then invalid
    // and this reports the error), so the stream is usable again either way.
    bitnet_status st = check(*p, "cuda graph_end", cudaStreamEndCapture(p->stream, &graph));
    cudaGetLastError(); // clear a launch error recorded during the failed capture
    if (st != BITNET_OK) {
        if (graph != nullptr) cudaGraphDestroy(graph);
        return st;
    }
    cudaGraphExec_t exec = nullptr;
    st = check(*p, "cuda graph instantiate", cudaGraphInstantiate(&exec, graph, 0));
    cudaGraphDestroy(graph);
    if (st != BITNET_OK) return st;
    *out = exec;
    return BITNET_OK;
}

bitnet_status graph_launch(void* plugin, void* graph) {
    Plugin* p = as_plugin(plugin);
    if (p == nullptr || graph == nullptr) return BITNET_ERR_INVALID_ARGUMENT;
    return check(*p, "cuda graph_launch", cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), p->stream));
}

void graph_destroy(void* plugin, void* graph) {
    Plugin* p = as_plugin(plugin);
    if (p == nullptr || graph == nullptr) return;
    cudaStreamSynchronize(p->stream);
    cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph));
}

} // namespace

void* get_proc_address(void* plugin, const char* name) {
    if (as_plugin(plugin) == nullptr || name == nullptr) return nullptr;
    if (std::strcmp(name, "bitnet_cuda_graph_begin") == 0) return reinterpret_cast<void*>(&graph_begin);
    if (std::strcmp(name, "bitnet_cuda_graph_end") == 0) return reinterpret_cast<void*>(&graph_end);
    if (std::strcmp(name, "bitnet_cuda_graph_launch") == 0) return reinterpret_cast<void*>(&graph_launch);
    if (std::strcmp(name, "bitnet_cuda_graph_destroy") == 0) return reinterpret_cast<void*>(&graph_destroy);
    return nullptr;
}

} // namespace bitnet::cuda
