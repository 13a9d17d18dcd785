// `bitnet tune -m FILE [--report DIR] [--autotune full|cache|off]`: runs the adaptive kernel
// manager for the model's signatures and prints the table (candidates, status or median/spread and
// throughput, winner and margin). With --report, also writes DIR/tune.json (contract:
// {"signatures":[{"op","weight_format","m","n","k","candidates":[{"plugin","kernel","status",
// "reason","median_us","mad_us"}],"winner":{"plugin","kernel"}}]}), DIR/tune.csv and DIR/tune.html.
#include "cli/commands.hpp"
#include "cli/model_env.hpp"
#include "tuning/report.hpp"

#include <cstdio>
#include <iostream>

namespace bitnet::cli {

int cmd_tune(int argc, char** argv) {
    CommonOptions common;
    ModelOptions mopts;
    std::string report_dir;
    po::options_description desc("bitnet tune options");
    add_common_options(desc, common);
    add_model_options(desc, mopts);
    desc.add_options()("report", po::value(&report_dir), "write tune.json, tune.csv and tune.html into this folder");
    po::variables_map vm;
    if (!parse_args(argc, argv, desc, vm, "bitnet tune -m FILE [--report DIR] [--autotune full|cache|off] [-b N] [-t N]"))
        return 0;
    auto env = make_model_env(common, mopts);
    const auto& report = env->tuner->report();
    std::cout << tuning::format_table(report) << std::flush;
    if (!report_dir.empty()) {
        tuning::write_reports(report, report_dir);
        std::fprintf(stderr, "report: %s/tune.{json,csv,html}\n", report_dir.c_str());
    }
    return 0;
}

} // namespace bitnet::cli
