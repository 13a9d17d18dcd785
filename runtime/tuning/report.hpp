// The autotuning report in four forms: a readable table, JSON (a contract: see docs and cmd_tune),
// oneDNN-verbose-style CSV with a header row, and a self-contained HTML page with one inline-SVG
// chart per op family.
#pragma once

#include "tuning/results.hpp"

#include <filesystem>
#include <string>

namespace bitnet::tuning {

// Throughput of one candidate: GOP/s and GB/s (0 when not measured).
double gops(const SignatureResult& s, const CandidateResult& c);
double gbps(const SignatureResult& s, const CandidateResult& c);

std::string format_table(const TuneReport& r);
std::string format_json(const TuneReport& r);
std::string format_csv(const TuneReport& r);
std::string format_html(const TuneReport& r);

// Writes dir/tune.json, dir/tune.csv and dir/tune.html (creating dir). Throws std::runtime_error
// naming the file that could not be written.
void write_reports(const TuneReport& r, const std::filesystem::path& dir);

} // namespace bitnet::tuning
