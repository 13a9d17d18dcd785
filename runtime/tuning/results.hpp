// What tuning found, per signature and per candidate kernel: the data behind the routing decision,
// the tuning cache and the reports.
#pragma once

#include <bitnet/plugin.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bitnet::tuning {

struct CandidateResult {
    std::string plugin, plugin_version, build_id, kernel;
    bool rejected = false;
    bool measured = false;      // median_us/mad_us hold a measurement (or an estimate, see reason)
    std::string reason;         // rejected: why; otherwise notes ("dropped early", "estimated ...")
    double median_us = 0, mad_us = 0;
    int runs = 0;               // timed runs behind the median
    double max_error = 0;       // largest |candidate - reference| / tolerance seen in verification
};

struct SignatureResult {
    bitnet_shape shape{};
    std::string signature;      // signature_string(shape)
    std::string family;         // op_name: "matmul", "attention", "quantize"
    std::string bucket;         // "decode" (M=1) or "prefill"
    std::string device = "cpu";
    double ops = 0, bytes = 0;  // work of one call, for GOP/s and GB/s
    std::vector<CandidateResult> candidates; // routing order first (winner at 0), then rejected ones
    int winner = -1;            // index into candidates; -1 when nothing could run
    double margin = 0;          // runner-up median / winner median - 1 (0 when no runner-up; < 0 when
                                // a tie within the noise kept the static order)
    std::string source;         // "measured", "cache", "static: <why>", with " + pinned" when pinned
};

struct TuneStats {
    int signatures = 0, measured = 0, from_cache = 0, static_order = 0;
    int64_t bench_runs = 0;     // timed benchmark runs (warm-up and verification excluded)
    int64_t verify_runs = 0;    // candidate runs made to check results
    double elapsed_ms = 0;
    bool budget_exhausted = false;
};

struct TuneReport {
    std::string mode;           // full | cache | off
    int32_t budget_ms = 0;
    std::string cpu;            // model name
    std::string cache_file;     // empty when none was used
    std::vector<SignatureResult> signatures;
    TuneStats stats;
};

} // namespace bitnet::tuning
