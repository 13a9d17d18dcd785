// Attention and activation-quantization problems, and the dispatch to the matmul one.
#include "tuning/workload.hpp"

#include "formats/formats.hpp"
#include "plugin/plugin_loader.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

namespace bitnet::tuning {

namespace detail {
bitnet_status run_kernel(const KernelRef& k, const bitnet_shape& shape, void* args, Scratch& scratch) {
    void* ws = nullptr;
    if (k.desc->workspace_size) {
        const size_t bytes = k.desc->workspace_size(k.plugin->instance(), &shape);
        if (bytes > 0) ws = scratch.get(bytes);
    }
    return k.desc->run(k.plugin->instance(), args, ws);
}
} // namespace detail

namespace {

using Clock = std::chrono::steady_clock;
using detail::Guarded;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

class AttentionWorkload final : public Workload {
public:
    AttentionWorkload(const TuneTarget& t, Scratch& scratch, uint32_t seed)
        : shape_(t.shape), scratch_(scratch), n_past_(t.n_past),
          q_(size_t(t.shape.m) * t.shape.n_heads * t.shape.head_dim),
          out_(q_.size()) {
        const int32_t m = shape_.m, width = shape_.n_kv_heads * shape_.head_dim, len = n_past_ + m;
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (float& v : q_) v = u(rng);
        k_.resize(size_t(len) * width);
        v_.resize(k_.size());
        for (auto& h : k_) h = formats::f32_to_fp16(u(rng));
        for (auto& h : v_) h = formats::f32_to_fp16(u(rng));
        args_.struct_size = sizeof(args_);
        args_.m = m;
        args_.n_past = n_past_;
        args_.n_heads = shape_.n_heads;
        args_.n_kv_heads = shape_.n_kv_heads;
        args_.head_dim = shape_.head_dim;
        args_.scale = 1.0f / std::sqrt(float(shape_.head_dim));
        args_.q = q_.data();
        args_.ldq = shape_.n_heads * shape_.head_dim;
        args_.k_cache = k_.data();
        args_.v_cache = v_.data();
        args_.kv_stride = width;
        args_.out = out_.data();
        args_.ldo = args_.ldq;
        // The same cache head-major (ABI 1.4), for kernels that read that layout: they are checked
        // and timed on the layout a CPU session gives them, against the same expected output.
        const int32_t D = shape_.head_dim;
        k_hm_.resize(k_.size());
        v_hm_.resize(v_.size());
        for (int32_t p = 0; p < len; ++p)
            for (int32_t h = 0; h < shape_.n_kv_heads; ++h)
                for (int32_t d = 0; d < D; ++d) {
                    const size_t from = size_t(p) * width + size_t(h) * D + d, to = (size_t(h) * len + p) * D + d;
                    k_hm_[to] = k_[from];
                    v_hm_[to] = v_[from];
                }
        args_hm_ = args_;
        args_hm_.k_cache = k_hm_.data();
        args_hm_.v_cache = v_hm_.data();
        args_hm_.kv_stride = D;
        args_hm_.kv_head_stride = int64_t(len) * D;
    }

    ReferenceTiming make_reference(const KernelRef& ref) override {
        poison();
        const auto t0 = Clock::now();
        const bitnet_status st = run(ref);
        const double s = seconds_since(t0);
        if (st != BITNET_OK) throw std::runtime_error(fmt::format("reference {} failed", ref.label()));
        expected_.assign(out_.data(), out_.data() + out_.size());
        return {s, 1, ""};
    }

    void poison() override { std::fill(out_.data(), out_.data() + out_.size(), std::nanf("")); }
    bitnet_status run(const KernelRef& k) override {
        return detail::run_kernel(k, shape_, reads_kv_head_stride(*k.desc) ? &args_hm_ : &args_, scratch_);
    }

    std::string check() override {
        if (!out_.guards_intact()) return "wrote outside its output buffer";
        max_error_ = 0;
        for (size_t i = 0; i < out_.size(); ++i) {
            const float y = out_.data()[i];
            if (!std::isfinite(y)) return fmt::format("non-finite output at {}", i);
            if (expected_.empty()) continue;
            // Outputs are convex mixes of values in [-1, 1]; f32 accumulation differs by ~1e-6.
            const double tol = 2e-4 * (1.0 + std::fabs(expected_[i]));
            const double err = std::fabs(double(y) - expected_[i]) / tol;
            max_error_ = std::max(max_error_, err);
            if (err > 1.0)
                return fmt::format("output {} is {:.6g}, reference {:.6g} (tolerance {:.2g})", i, y, expected_[i], tol);
        }
        return {};
    }

private:
    bitnet_shape shape_;
    Scratch& scratch_;
    int32_t n_past_;
    std::vector<float> q_;
    std::vector<uint16_t> k_, v_, k_hm_, v_hm_;
    Guarded<float> out_;
    std::vector<float> expected_;
    bitnet_attention_args args_{}, args_hm_{};
};

class QuantizeWorkload final : public Workload {
public:
    QuantizeWorkload(const TuneTarget& t, Scratch& scratch, uint32_t seed)
        : shape_(t.shape), scratch_(scratch), stride_((size_t(t.shape.n) + 63) / 64 * 64),
          n_scales_(shape_.act_type == BITNET_ACT_I8_B256 ? size_t(t.shape.m) * ((t.shape.n + 255) / 256)
                                                         : size_t(t.shape.m)),
          x_(size_t(t.shape.m) * t.shape.n), data_(stride_ * t.shape.m), scales_(n_scales_),
          row_sums_(size_t(t.shape.m)) {
        // Rows of different magnitudes with a few outliers, like real activations.
        std::mt19937 rng(seed);
        std::normal_distribution<float> g(0.0f, 1.0f);
        std::uniform_real_distribution<float> mag(0.05f, 20.0f);
        for (int32_t r = 0; r < shape_.m; ++r) {
            const float s = mag(rng);
            for (int32_t j = 0; j < shape_.n; ++j) x_[size_t(r) * shape_.n + j] = g(rng) * s * (j % 97 == 0 ? 8.0f : 1.0f);
        }
        out_.data = data_.data();
        out_.scales = scales_.data();
        out_.row_sums = row_sums_.data();
        out_.row_stride = stride_;
        args_.struct_size = sizeof(args_);
        args_.m = shape_.m;
        args_.k = shape_.n;
        args_.x = x_.data();
        args_.ldx = shape_.n;
        args_.out = &out_;
    }

    ReferenceTiming make_reference(const KernelRef& ref) override {
        poison();
        const auto t0 = Clock::now();
        const bitnet_status st = run(ref);
        const double s = seconds_since(t0);
        if (st != BITNET_OK) throw std::runtime_error(fmt::format("reference {} failed", ref.label()));
        expected_data_.assign(data_.data(), data_.data() + data_.size());
        expected_scales_.assign(scales_.data(), scales_.data() + scales_.size());
        return {s, 1, ""};
    }

    void poison() override {
        std::fill(data_.data(), data_.data() + data_.size(), int8_t(0x5a));
        std::fill(scales_.data(), scales_.data() + scales_.size(), std::nanf(""));
    }
    bitnet_status run(const KernelRef& k) override {
        return detail::run_kernel(k, shape_, &args_, scratch_);
    }

    std::string check() override {
        if (!data_.guards_intact() || !scales_.guards_intact() || !row_sums_.guards_intact())
            return "wrote outside its output buffers";
        max_error_ = 0;
        for (size_t i = 0; i < n_scales_; ++i) {
            if (!std::isfinite(scales_.data()[i])) return fmt::format("non-finite scale {}", i);
            if (expected_scales_.empty()) continue;
            const double e = expected_scales_[i], tol = 1e-6 * std::fabs(e) + 1e-30;
            const double err = std::fabs(scales_.data()[i] - e) / tol;
            max_error_ = std::max(max_error_, err);
            if (err > 1.0) return fmt::format("scale {} is {:.9g}, reference {:.9g}", i, scales_.data()[i], e);
        }
        if (expected_data_.empty()) return {};
        // The quantized bytes feed integer dot products: they must be identical.
        for (int32_t r = 0; r < shape_.m; ++r)
            for (int32_t j = 0; j < shape_.n; ++j) {
                const size_t i = size_t(r) * stride_ + j;
                if (data_.data()[i] != expected_data_[i]) {
                    max_error_ = std::max(max_error_, 2.0);
                    return fmt::format("q[{}][{}] = {}, reference {}", r, j, int(data_.data()[i]), int(expected_data_[i]));
                }
            }
        return {};
    }

private:
    bitnet_shape shape_;
    Scratch& scratch_;
    size_t stride_, n_scales_;
    std::vector<float> x_;
    Guarded<int8_t> data_;
    Guarded<float> scales_;
    Guarded<int32_t> row_sums_;
    bitnet_qact out_{};
    bitnet_quantize_args args_{};
    std::vector<int8_t> expected_data_;
    std::vector<float> expected_scales_;
};

} // namespace

std::unique_ptr<Workload> make_workload(const TuneTarget& t, model::Ops& ops, Scratch& scratch, uint32_t seed) {
    switch (t.shape.op) {
    case BITNET_OP_MATMUL: return detail::make_matmul_workload(t, ops, scratch, seed);
    case BITNET_OP_ATTENTION: return std::make_unique<AttentionWorkload>(t, scratch, seed);
    case BITNET_OP_QUANTIZE_ACT: return std::make_unique<QuantizeWorkload>(t, scratch, seed);
    default: throw std::invalid_argument(fmt::format("no tuning workload for {}", op_name(t.shape.op)));
    }
}

} // namespace bitnet::tuning
