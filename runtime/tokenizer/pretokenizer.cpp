#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.hpp"

#include "tokenizer/tokenizer.hpp"

#include <pcre2.h>

#include <memory>
#include <utility>

namespace bitnet::tokenizer {

namespace {

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

std::string pcre2_message(int rc) {
    PCRE2_UCHAR buf[256];
    if (pcre2_get_error_message(rc, buf, sizeof buf) < 0) return "error " + std::to_string(rc);
    return reinterpret_cast<const char*>(buf);
}

struct MatchDataDeleter {
    void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

} // namespace

PreTokenizer::PreTokenizer(std::string_view pattern) : pattern_(pattern) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    // UCP makes \s, \p{..} and (?i) Unicode-aware as in the Rust/Oniguruma engines HF uses;
    // MATCH_INVALID_UTF lets arbitrary bytes through instead of rejecting the subject.
    const uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(), opts,
                                     &err, &err_off, nullptr);
    if (code == nullptr)
        throw TokenizerError("pre-tokenizer regex does not compile at offset " + std::to_string(err_off) + ": " +
                             pcre2_message(err));
    code_ = code;
    // JIT is an optimisation only: a PCRE2 built without it still matches, just slower.
    jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

PreTokenizer::~PreTokenizer() {
    if (code_ != nullptr) pcre2_code_free(as_code(code_));
}

PreTokenizer::PreTokenizer(PreTokenizer&& o) noexcept
    : pattern_(std::move(o.pattern_)), code_(std::exchange(o.code_, nullptr)), jit_(o.jit_) {}

PreTokenizer& PreTokenizer::operator=(PreTokenizer&& o) noexcept {
    if (this != &o) {
        if (code_ != nullptr) pcre2_code_free(as_code(code_));
        pattern_ = std::move(o.pattern_);
        code_ = std::exchange(o.code_, nullptr);
        jit_ = o.jit_;
    }
    return *this;
}

void PreTokenizer::split_into(std::string_view text, std::vector<std::string_view>& out) const {
    if (text.empty()) return;
    pcre2_code* code = as_code(code_);
    // One match block per call, reused for every match in the text; a per-object one would make
    // concurrent encode() calls on a shared tokenizer race.
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(pcre2_match_data_create_from_pattern(code, nullptr));
    if (!md) throw TokenizerError("pre-tokenizer: out of memory for match data");
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0;
    size_t emitted = 0;  // end of the text already handed out
    while (pos < text.size()) {
        const int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), pos, 0, md.get(), nullptr)
                            : pcre2_match(code, subject, text.size(), pos, 0, md.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) throw TokenizerError("pre-tokenizer regex match failed: " + pcre2_message(rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
        const size_t start = ov[0], end = ov[1];
        if (start > emitted) out.push_back(text.substr(emitted, start - emitted));
        if (end > start) {
            out.push_back(text.substr(start, end - start));
            emitted = end;
            pos = end;
        } else {
            // An empty match would loop forever; step one byte and let it join the next gap.
            emitted = start;
            pos = start + 1;
            while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
        }
    }
    if (emitted < text.size()) out.push_back(text.substr(emitted));
}

} // namespace bitnet::tokenizer
