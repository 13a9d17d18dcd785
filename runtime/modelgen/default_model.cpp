// The embedded default model: generated on demand into the user cache instead of being shipped,
// so the binary stays small and `bitnet run` works with no download.
#include "core/paths.hpp"
#include "gguf/gguf.hpp"
#include "modelgen/modelgen.hpp"

namespace bitnet::modelgen {
namespace {

// Bump when the generator's output changes, so stale cached files are not reused.
constexpr const char* kDefaultFile = "default-tiny-i2_s-v1.gguf";
constexpr uint64_t kDefaultSeed = 20240417;

bool usable(const std::filesystem::path& p) {
    try {
        const auto f = gguf::File::open(p);
        return f->find_tensor("token_embd.weight") != nullptr && f->find_tensor("output_norm.weight") != nullptr &&
               f->find("tokenizer.ggml.tokens") != nullptr;
    } catch (const std::exception&) {
        return false;
    }
}

} // namespace

std::filesystem::path ensure_default_model() {
    const std::filesystem::path dir = user_cache_dir() / "models";
    const std::filesystem::path path = dir / kDefaultFile;
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && usable(path)) return path;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw ModelGenError("cannot create the model cache folder " + dir.string() + ": " + ec.message());
    ModelSpec spec = shape_preset("tiny");
    GenOptions opts;
    opts.seed = kDefaultSeed;
    opts.model_name = "bitnet-b1.58-tiny-default";
    generate_model(spec, opts, path);
    return path;
}

} // namespace bitnet::modelgen
