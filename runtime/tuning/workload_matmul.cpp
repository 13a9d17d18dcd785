// The matmul problem: the model's own weight bytes, random activations. The scalar reference is
// too slow to run on a whole prefill or head matmul, so it computes sampled rows (the first few and
// the last token) against two column slices (the first and last output rows of W), and every
// candidate's full output is checked there, plus everywhere for NaN/Inf and out-of-bounds writes.
// Shapes whose single run would take seconds (the head at prefill batch sizes) are benchmarked on a
// leading slice of W's rows and scaled up; the report says so.
#include "tuning/workload.hpp"

#include "formats/formats.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

namespace bitnet::tuning::detail {

namespace {

using Clock = std::chrono::steady_clock;

// Reads one byte per 4 KiB page of [p, p + n): faults a mapped file's pages in.
void touch_pages(const uint8_t* p, size_t n) {
    uint8_t sink = 0;
    for (size_t i = 0; i < n; i += 4096) sink ^= static_cast<const volatile uint8_t*>(p)[i];
    (void)sink;
}

// Multiply-accumulates one benchmark run may cost before the problem is cut to a row slice
// (~0.1 s on a fast CPU kernel; keeps a 20 s budget enough for a 2B model's every signature).
constexpr double kMaxMacs = 17.0e9;
constexpr double kSliceMacs = 4.3e9;
constexpr int32_t kRefCols = 256;    // output columns per reference slice
constexpr double kRelTol = 1e-4;     // of Σ|w·x|, per output

// Quantized activations for `rows` rows of K in the layout bitnet_act_type documents.
struct QAct {
    QAct(int32_t rows, int32_t k, bitnet_act_type act)
        : stride((size_t(k) + 63) / 64 * 64), per_row(act == BITNET_ACT_I8_B256 ? (k + 255) / 256 : 1),
          data(stride * rows), scales(size_t(rows) * per_row), row_sums(rows) {
        view.data = data.data();
        view.scales = scales.data();
        view.row_sums = row_sums.data();
        view.row_stride = stride;
    }
    size_t stride;
    int32_t per_row;
    std::vector<int8_t> data;
    std::vector<float> scales;
    std::vector<int32_t> row_sums;
    bitnet_qact view{};
};

class MatmulWorkload final : public Workload {
public:
    MatmulWorkload(const TuneTarget& t, model::Ops& ops, Scratch& scratch, uint32_t seed)
        : shape_(t.shape), w_(*t.weight), alike_(t.alike), ops_(ops), scratch_(scratch),
          row_bytes_(formats::row_bytes(w_.type, w_.k).value_or(0)) {
        if (row_bytes_ == 0) throw std::invalid_argument("matmul tuning: unknown row size for " + w_.name);
        const int32_t M = shape_.m, K = shape_.k;
        const double macs = double(M) * shape_.n * K;
        n_eff_ = shape_.n;
        if (macs > kMaxMacs) {
            n_eff_ = std::max<int32_t>(2 * kRefCols, int32_t(kSliceMacs / (double(M) * K)) / 64 * 64);
            n_eff_ = std::min(n_eff_, shape_.n);
            to_full = double(shape_.n) / n_eff_;
            slice_note = fmt::format("timed on the first {} of {} output rows, scaled", n_eff_, shape_.n);
        }
        bench_shape_ = shape_;
        bench_shape_.n = n_eff_;
        // Activations: random in [-1, 1], quantized with the reference rules when the kernel takes ints.
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        x_.resize(size_t(M) * K);
        for (float& v : x_) v = u(rng);
        if (quantized()) {
            q_ = std::make_unique<QAct>(M, K, shape_.act_type);
            for (int32_t r = 0; r < M; ++r) quantize_row(r, *q_, r);
        }
        y_ = std::make_unique<Guarded<float>>(size_t(M) * n_eff_);
        // Sampled tokens: the first rows and the last one (where gemm tiles have their remainder).
        for (int32_t r = 0; r < std::min(M, 3); ++r) rows_.push_back(r);
        if (M > 3) rows_.push_back(M - 1);
        cols_.push_back(0);
        if (n_eff_ > 2 * kRefCols) cols_.push_back(n_eff_ - kRefCols);
    }

    ~MatmulWorkload() override {
        for (auto& [k, p] : slice_packs_)
            if (k.desc->release_packed && p) k.desc->release_packed(k.plugin->instance(), p);
    }

    ReferenceTiming make_reference(const KernelRef& ref) override {
        const int32_t R = int32_t(rows_.size()), K = shape_.k;
        const int32_t ns = std::min(kRefCols, n_eff_);
        QAct qsub(R, K, shape_.act_type);
        std::vector<float> xsub(size_t(R) * K);
        for (int32_t i = 0; i < R; ++i) {
            std::copy_n(x_.data() + size_t(rows_[i]) * K, K, xsub.data() + size_t(i) * K);
            if (quantized()) quantize_row(rows_[i], qsub, i);
        }
        // Kernels named "..._f32q8k_..." / "..._f32q8_0_..." quantize f32 activations to Q8_K /
        // Q8_0 first (llama.cpp's numerics for Q6_K / Q8_0 heads); they are held to the same
        // rounding bound against the reference run on exactly the values they multiply, d·q of the
        // reference quantizer.
        const int variants = act_rounding() != formats::ActRounding::none ? 2 : 1;
        double seconds = 0;
        for (int v = 0; v < variants; ++v) {
            if (v == 1)
                for (int32_t i = 0; i < R; ++i) formats::round_activations(act_rounding(), xsub.data() + size_t(i) * K, K);
            expected_[v].assign(size_t(R) * ns * cols_.size(), 0.0f);
            tol_[v].assign(expected_[v].size(), 0.0);
            for (size_t c = 0; c < cols_.size(); ++c) {
                bitnet_shape s = shape_;
                s.m = R;
                s.n = ns;
                if (!kernel_accepts(*ref.desc, ref.plugin->instance(), s))
                    throw std::runtime_error(fmt::format("reference {} does not accept the sampled problem", ref.label()));
                bitnet_weights wv{w_.data + size_t(cols_[c]) * row_bytes_, size_t(ns) * row_bytes_, w_.scale, nullptr};
                wv.packed = pack_slice(ref, s, wv.data, wv.size);
                std::vector<float> y(size_t(R) * ns);
                bitnet_matmul_args a = args(s, xsub.data(), &qsub.view, K, &wv, y.data(), ns);
                const auto t0 = Clock::now();
                const bitnet_status st = run_kernel(ref, s, &a, scratch_);
                seconds += std::chrono::duration<double>(Clock::now() - t0).count();
                if (st != BITNET_OK) throw std::runtime_error(fmt::format("reference {} failed", ref.label()));
                for (int32_t i = 0; i < R; ++i)
                    std::copy_n(y.data() + size_t(i) * ns, ns, expected_[v].data() + (c * R + i) * ns);
                compute_tolerances(c, ns, xsub, qsub, tol_[v]);
                release_slice(ref);
            }
        }
        const double done = double(R) * ns * cols_.size() * variants, full = double(shape_.m) * shape_.n;
        return {seconds, full / done,
                fmt::format("estimated from {} tokens x {} outputs (scalar is the fallback, not a contender)",
                            R, ns * cols_.size())};
    }

    bitnet_status run(const KernelRef& k) override {
        // The checked run is also the warm-up before timing: map the pages run_timed will cycle
        // through now, so timed runs measure reading memory, not page faults (decode reads them
        // all anyway; kernels on packed copies never cycle, so a repacked file stays unmapped).
        if (cycles(k) && !alike_mapped_) {
            for (const model::LinearWeight* w : alike_) touch_pages(w->data, w->size);
            alike_mapped_ = true;
        }
        const formats::ActRounding r = act_rounding();
        variant_ = r != formats::ActRounding::none && formats::act_rounding_of_kernel(k.desc->name) == r ? 1 : 0;
        const bool full = n_eff_ == shape_.n;
        return run_on(k, w_, full ? ops_.packed_for(w_, k, shape_) : pack_slice(k, bench_shape_, w_.data, size_t(n_eff_) * row_bytes_));
    }

    bitnet_status run_timed(const KernelRef& k) override {
        if (!cycles(k)) return run(k);
        const model::LinearWeight& w = next_ == 0 ? w_ : *alike_[next_ - 1];
        next_ = (next_ + 1) % (alike_.size() + 1);
        return run_on(k, w, nullptr);
    }

    std::string timing_note(const KernelRef& k) const override {
        return cycles(k) ? fmt::format("timed cold: over the model's {} weights of this shape in turn", alike_.size() + 1)
                         : std::string();
    }

    void poison() override { std::fill(y_->data(), y_->data() + y_->size(), std::nanf("")); }

    std::string check() override {
        if (!y_->guards_intact()) return "wrote outside its output buffer";
        const float* y = y_->data();
        for (size_t i = 0; i < y_->size(); ++i)
            if (!std::isfinite(y[i])) return fmt::format("non-finite output at token {} column {}", i / n_eff_, i % n_eff_);
        max_error_ = 0;
        const std::vector<float>& expected = expected_[variant_];
        const std::vector<double>& tol = tol_[variant_];
        if (expected.empty()) return {};
        const int32_t R = int32_t(rows_.size()), ns = std::min(kRefCols, n_eff_);
        for (size_t c = 0; c < cols_.size(); ++c)
            for (int32_t i = 0; i < R; ++i)
                for (int32_t j = 0; j < ns; ++j) {
                    const size_t e = (c * R + i) * ns + j;
                    const float got = y[size_t(rows_[i]) * n_eff_ + cols_[c] + j];
                    const double err = std::fabs(double(got) - expected[e]) / tol[e];
                    max_error_ = std::max(max_error_, err);
                    if (err > 1.0)
                        return fmt::format("y[{}][{}] = {:.6g}, reference {:.6g} (tolerance {:.2g})", rows_[i],
                                           cols_[c] + j, got, expected[e], tol[e]);
                }
        return {};
    }

private:
    // The benchmark problem on the first n_eff_ rows of `w` (or its packed copy).
    bitnet_status run_on(const KernelRef& k, const model::LinearWeight& w, const void* packed) {
        bitnet_weights wv{w.data, size_t(n_eff_) * row_bytes_, w.scale, packed};
        bitnet_matmul_args a = args(bench_shape_, x_.data(), q_ ? &q_->view : nullptr, shape_.k, &wv, y_->data(), n_eff_);
        return run_kernel(k, bench_shape_, &a, scratch_);
    }
    bool quantized() const { return shape_.act_type != BITNET_ACT_F32; }
    // Whether run_timed(k) cycles through alike_. Packed kernels stay on the one matrix tuning
    // packed: packing every layer's copy for every candidate would hold the losers' copies too.
    bool cycles(const KernelRef& k) const {
        return shape_.m == 1 && n_eff_ == shape_.n && !alike_.empty() && k.desc->pack_weights == nullptr;
    }
    // The activation rounding of llama.cpp's dot product for this weight format, which a kernel
    // may name (formats::act_rounding_of_kernel) to be checked against it.
    formats::ActRounding act_rounding() const {
        if (quantized()) return formats::ActRounding::none;
        if (w_.type == formats::GgmlType::Q6_K) return formats::ActRounding::q8_k;
        if (w_.type == formats::GgmlType::Q8_0) return formats::ActRounding::q8_0;
        return formats::ActRounding::none;
    }

    void quantize_row(int32_t src_row, QAct& dst, int32_t dst_row) const {
        const float* x = x_.data() + size_t(src_row) * shape_.k;
        int8_t* q = dst.data.data() + size_t(dst_row) * dst.stride;
        float* s = dst.scales.data() + size_t(dst_row) * dst.per_row;
        if (shape_.act_type == BITNET_ACT_I8_ROW) formats::quantize_act_row_i8(x, shape_.k, q, s);
        else formats::quantize_act_row_b256(x, shape_.k, q, s);
        int32_t sum = 0;
        for (int32_t j = 0; j < shape_.k; ++j) sum += q[j];
        dst.row_sums[dst_row] = sum;
    }

    // The activation value a kernel actually multiplies (after quantization).
    double act_value(const std::vector<float>& xsub, const QAct& qsub, int32_t i, int32_t j) const {
        if (!quantized()) return xsub[size_t(i) * shape_.k + j];
        const double q = qsub.data[size_t(i) * qsub.stride + j];
        if (shape_.act_type == BITNET_ACT_I8_ROW) return q / qsub.scales[i];
        return q * qsub.scales[size_t(i) * qsub.per_row + j / 256];
    }

    // Tolerance per output. Float formats: kRelTol of Σ|w·x| (what rounding can disturb). Ternary
    // formats multiply integers exactly, so a correct kernel differs from the reference only by the
    // final float scaling (I8_ROW: a couple of ulps) or the per-block float sum (I8_B256); half the
    // smallest integer step keeps an off-by-one in any dot product detectable.
    void compute_tolerances(size_t c, int32_t ns, const std::vector<float>& xsub, const QAct& qsub,
                            std::vector<double>& tol_out) {
        const int32_t R = int32_t(rows_.size()), K = shape_.k, nb = (K + 255) / 256;
        const double wscale = std::fabs(w_.scale);
        std::vector<float> wrow(K), bscale(nb, 1.0f);
        std::vector<int8_t> codes(K);
        std::vector<double> ax(size_t(R) * K);
        for (int32_t i = 0; i < R; ++i)
            for (int32_t j = 0; j < K; ++j) ax[size_t(i) * K + j] = std::fabs(act_value(xsub, qsub, i, j));
        for (int32_t n = 0; n < ns; ++n) {
            const int64_t row = cols_[c] + n;
            formats::dequantize_row(w_.type, w_.data, row, K, wrow.data());
            if (quantized()) formats::ternary_row_codes(w_.type, w_.data, row, K, codes.data(), bscale.data());
            for (int32_t i = 0; i < R; ++i) {
                double sum = 0;
                for (int32_t j = 0; j < K; ++j) sum += std::fabs(wrow[j]) * ax[size_t(i) * K + j];
                sum *= wscale;
                double tol = kRelTol * sum;
                if (shape_.act_type == BITNET_ACT_I8_ROW) {
                    double bmin = 1e300;
                    for (float b : bscale) bmin = std::min(bmin, double(std::fabs(b)));
                    tol = std::max(0.5 * bmin * wscale / qsub.scales[i], 2.4e-7 * sum);
                } else if (shape_.act_type == BITNET_ACT_I8_B256) {
                    double step = 1e300;
                    for (int32_t b = 0; b < nb; ++b)
                        step = std::min(step, std::fabs(double(bscale[b]) * qsub.scales[size_t(i) * qsub.per_row + b]));
                    tol = std::max(0.5 * step * wscale, 2e-6 * sum);
                }
                tol_out[(c * R + i) * ns + n] = tol + 1e-12;
            }
        }
    }

    bitnet_matmul_args args(const bitnet_shape& s, const float* x, const bitnet_qact* q, int32_t ldx,
                            const bitnet_weights* w, float* y, int32_t ldy) const {
        bitnet_matmul_args a{};
        a.struct_size = sizeof(a);
        a.m = s.m;
        a.n = s.n;
        a.k = s.k;
        a.act_type = s.act_type;
        a.x_f32 = x;
        a.x_q = quantized() ? q : nullptr;
        a.ldx = ldx;
        a.w = w;
        a.y = y;
        a.ldy = ldy;
        return a;
    }

    // Weights cut to a row slice are packed here, not in the model's LinearWeight (which holds
    // packs of the whole matrix only).
    const void* pack_slice(const KernelRef& k, const bitnet_shape& s, const void* data, size_t size) {
        if (k.desc->pack_weights == nullptr) return nullptr;
        for (auto& [kk, p] : slice_packs_)
            if (kk.desc == k.desc) return p;
        void* p = nullptr;
        size_t b = 0;
        const bitnet_status st = k.desc->pack_weights(k.plugin->instance(), &s, data, size, &p, &b);
        if (st != BITNET_OK || p == nullptr)
            throw DispatchError(fmt::format("{}: pack_weights failed on a slice of {}", k.label(), w_.name));
        slice_packs_.push_back({k, p});
        return p;
    }
    void release_slice(const KernelRef& k) {
        for (auto it = slice_packs_.begin(); it != slice_packs_.end(); ++it)
            if (it->first.desc == k.desc) {
                if (k.desc->release_packed && it->second) k.desc->release_packed(k.plugin->instance(), it->second);
                slice_packs_.erase(it);
                return;
            }
    }

    bitnet_shape shape_, bench_shape_{};
    model::LinearWeight& w_;
    std::vector<model::LinearWeight*> alike_; // run_timed cycles through w_ and these
    size_t next_ = 0;                         // 0: w_, i: alike_[i - 1]
    bool alike_mapped_ = false;
    model::Ops& ops_;
    Scratch& scratch_;
    size_t row_bytes_;
    int32_t n_eff_ = 0;
    std::vector<float> x_;
    std::unique_ptr<QAct> q_;
    std::unique_ptr<Guarded<float>> y_;
    std::vector<int32_t> rows_, cols_;
    std::vector<float> expected_[2];  // [1]: against activations rounded as act_rounding() says
    std::vector<double> tol_[2];
    int variant_ = 0;
    std::vector<std::pair<KernelRef, void*>> slice_packs_;
};

} // namespace

std::unique_ptr<Workload> make_matmul_workload(const TuneTarget& t, model::Ops& ops, Scratch& scratch, uint32_t seed) {
    if (t.weight == nullptr) throw std::invalid_argument("matmul tuning target without a weight");
    return std::make_unique<MatmulWorkload>(t, ops, scratch, seed);
}

} // namespace bitnet::tuning::detail
