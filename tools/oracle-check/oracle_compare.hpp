// Compares this engine's teacher-forced logits and greedy continuation with a reference file
// (`*.ref.json`, schema bitnet-oracle/1, ../shared/oracle/README.md §5). Used by the model tests
// and by the `bitnet-oracle-check` tool that prints the agreement table.
#pragma once

#include "dispatch/router.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace bitnet::oracle {

struct Bounds {
    double max_abs_logit = 0.06;  // over the reference's top-16 and probe ids, per position
    double max_abs_lse = 0.03;
    double tie_gap = 0.06;        // argmax must match where the reference top1-top2 gap is >= this
    double min_top1_fraction = 0.95;
};

struct Report {
    std::string ref_file, model_file;
    int positions = 0;
    int top1_match = 0;
    double max_abs_logit = 0;     // worst position
    double max_abs_lse = 0;
    double median_abs_logit = 0;
    int decisive_mismatches = 0;  // argmax differs although the reference gap >= tie_gap
    std::string worst_where;      // "sequence/pos" of the largest logit error
    // Greedy: steps compared (until the first reference near-tie) and how many matched.
    int greedy_compared = 0;
    int greedy_matched = 0;
    int greedy_steps = 0;
    bool greedy_ok = true;
    std::vector<std::string> failures; // human-readable bound violations (empty = pass)
};

// Runs every sequence of `ref_json` through the model next to it (model_file.name in the same
// folder) on the plugins routed by `router`, and checks `bounds`.
Report compare(const std::filesystem::path& ref_json, Router& router, const Bounds& bounds = {});

} // namespace bitnet::oracle
