// generate_model: plan, fill, write, rename.
#include "gguf/gguf.hpp"
#include "modelgen/internal.hpp"

#include <fmt/format.h>

#include <atomic>
#include <system_error>
#include <unistd.h>

namespace bitnet::modelgen {

GenSummary generate_model(const ModelSpec& spec, const GenOptions& opts, const std::filesystem::path& out) {
    validate(spec, opts);
    const detail::GenVocab vocab = detail::load_vocab(spec, opts);
    const auto n_vocab = static_cast<int64_t>(vocab.data.tokens.size());
    const std::vector<detail::TensorPlan> plans = detail::plan_tensors(spec, opts, n_vocab);

    GenSummary summary;
    summary.n_vocab = n_vocab;
    summary.n_tensors = plans.size();

    gguf::Writer w;
    detail::write_metadata(w, spec, opts, vocab);
    // Payloads are generated once into the buffers the writer keeps, so peak memory is about the
    // file size (plus one tensor's worth of scratch per thread).
    std::vector<std::vector<uint8_t>> payloads = detail::fill_tensors(plans, opts.seed, opts.threads);
    for (size_t i = 0; i < plans.size(); ++i) {
        int64_t n = 1;
        for (int64_t d : plans[i].dims) n *= d;
        summary.n_params += n;
        w.add_tensor(plans[i].name, plans[i].dims, plans[i].type, std::move(payloads[i]));
    }

    // A unique temp name next to the target: rename() is atomic only within one filesystem.
    static std::atomic<unsigned> counter{0};
    const std::filesystem::path tmp =
        out.string() + fmt::format(".tmp-{}-{}", ::getpid(), counter.fetch_add(1));
    try {
        w.write(tmp);
        std::filesystem::rename(tmp, out);
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove(tmp, ec);
        throw;
    }
    summary.file_bytes = std::filesystem::file_size(out);
    return summary;
}

} // namespace bitnet::modelgen
