// One signature's test problem: inputs made once from a fixed seed, run by every candidate kernel,
// and checked against the scalar reference's output. Matmul runs on the model's real weight bytes
// with random activations; attention on random queries over a random F16 cache; quantization on
// random rows (bytes must match exactly).
#pragma once

#include "dispatch/router.hpp"
#include "dispatch/scratch.hpp"
#include "model/ops.hpp"
#include "tuning/targets.hpp"

#include <memory>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace bitnet::tuning {

struct ReferenceTiming {
    double seconds = 0;     // what the reference run(s) took
    double to_full = 1;     // multiply by this for the full signature's time (1: it ran the full problem)
    std::string note;       // how the estimate was made, when to_full != 1
};

class Workload {
public:
    virtual ~Workload() = default;
    // Runs `ref` (the scalar kernel) and keeps its output as the expected one. Throws
    // std::runtime_error when the reference cannot run: candidates are then left unverified.
    virtual ReferenceTiming make_reference(const KernelRef& ref) = 0;
    // Fills the output with values no correct kernel leaves behind (NaN), before a checked run.
    virtual void poison() = 0;
    // Runs `k` once on the benchmark problem. May throw DispatchError (weight packing failed).
    virtual bitnet_status run(const KernelRef& k) = 0;
    // Runs `k` once for timing: the problem of run(), except that a decode matmul cycles through
    // the model's weights of its signature (TuneTarget::alike) when `k` runs on the file's bytes:
    // decode streams every weight from memory, and one matrix of a few MB timed over and over
    // would be served from the last-level cache. The output is not checked.
    virtual bitnet_status run_timed(const KernelRef& k) { return run(k); }
    // Says how run_timed(k) differs from run(k) for the report, or nothing.
    virtual std::string timing_note(const KernelRef&) const { return {}; }
    // After run(k) returned BITNET_OK: empty when the output agrees with the reference within
    // tolerance and passes the sanity checks (no write outside the output, no NaN/Inf), else why not.
    virtual std::string check() = 0;
    // Largest |output - reference| / tolerance of the last check (0 before any).
    double max_error() const { return max_error_; }

    double to_full = 1;         // full-signature time / benchmark-problem time (1: no slicing)
    std::string slice_note;     // says how the benchmark problem was cut, when to_full != 1

protected:
    double max_error_ = 0;
};

// Builds the problem for `t`. `ops` supplies weight packing, kept in the LinearWeight so the model
// reuses what tuning packed; `scratch` is the kernels' workspace.
std::unique_ptr<Workload> make_workload(const TuneTarget& t, model::Ops& ops, Scratch& scratch, uint32_t seed);

namespace detail {
std::unique_ptr<Workload> make_matmul_workload(const TuneTarget& t, model::Ops& ops, Scratch& scratch, uint32_t seed);

// An output buffer with guard zones on both sides, to catch kernels that write out of bounds.
template <class T>
class Guarded {
public:
    explicit Guarded(size_t n, T fill = T{}) : buf_(n + 2 * kGuard, fill) {
        for (size_t i = 0; i < kGuard; ++i) buf_[i] = buf_[buf_.size() - 1 - i] = canary();
    }
    T* data() { return buf_.data() + kGuard; }
    const T* data() const { return buf_.data() + kGuard; }
    size_t size() const { return buf_.size() - 2 * kGuard; }
    bool guards_intact() const {
        for (size_t i = 0; i < kGuard; ++i)
            if (!same(buf_[i], canary()) || !same(buf_[buf_.size() - 1 - i], canary())) return false;
        return true;
    }

private:
    static constexpr size_t kGuard = 64;
    static T canary() { return static_cast<T>(0x5a); }
    static bool same(T a, T b) { return std::memcmp(&a, &b, sizeof(T)) == 0; }
    std::vector<T> buf_;
};

// Runs `k` with its workspace on `args`.
bitnet_status run_kernel(const KernelRef& k, const bitnet_shape& shape, void* args, Scratch& scratch);
} // namespace detail

} // namespace bitnet::tuning
