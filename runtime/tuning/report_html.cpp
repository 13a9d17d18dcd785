// The HTML report: one page, readable offline (no scripts, no external files). Each op family gets
// an inline SVG bar chart, one group of bars per signature, candidates side by side on a log scale
// (scalar is often 100x slower than the SIMD kernels), rejected candidates drawn as crossed stubs.
#include "tuning/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace bitnet::tuning {

namespace {
std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
        case '<': o += "&lt;"; break;
        case '>': o += "&gt;"; break;
        case '&': o += "&amp;"; break;
        case '"': o += "&quot;"; break;
        default: o += c;
        }
    }
    return o;
}

const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"};

std::string chart(const std::vector<const SignatureResult*>& sigs) {
    // One colour per plugin, shared by every group in the chart.
    std::map<std::string, int> colour;
    double lo = 1e300, hi = 0;
    size_t max_c = 1;
    for (const auto* s : sigs) {
        max_c = std::max(max_c, s->candidates.size());
        for (const auto& c : s->candidates) {
            colour.emplace(c.plugin, int(colour.size()));
            if (c.measured && !c.rejected && c.median_us > 0) {
                lo = std::min(lo, c.median_us);
                hi = std::max(hi, c.median_us);
            }
        }
    }
    if (hi <= 0) lo = 1, hi = 10;
    const double llo = std::floor(std::log10(lo)), lhi = std::max(llo + 1, std::ceil(std::log10(hi)));
    const int bar = 14, gap = 18, left = 60, top = 20, plot_h = 220;
    const int group_w = int(max_c) * bar + gap;
    const int width = left + int(sigs.size()) * group_w + 20, height = top + plot_h + 130;
    auto y_of = [&](double us) { return top + plot_h - (std::log10(us) - llo) / (lhi - llo) * plot_h; };
    std::string svg = fmt::format("<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' font-family='sans-serif' "
                                  "font-size='10'>\n", width, height + 20 * int(colour.size()));
    for (double d = llo; d <= lhi + 1e-9; d += 1) {
        const double y = y_of(std::pow(10.0, d));
        svg += fmt::format("<line x1='{}' x2='{}' y1='{:.1f}' y2='{:.1f}' stroke='#ddd'/><text x='{}' y='{:.1f}' "
                           "text-anchor='end'>{:g} us</text>\n", left, width - 10, y, y, left - 4, y + 3, std::pow(10.0, d));
    }
    for (size_t g = 0; g < sigs.size(); ++g) {
        const auto& s = *sigs[g];
        const int x0 = left + int(g) * group_w + gap / 2;
        for (size_t i = 0; i < s.candidates.size(); ++i) {
            const auto& c = s.candidates[i];
            const int x = x0 + int(i) * bar;
            const char* fill = kPalette[colour[c.plugin] % 8];
            const std::string tip = esc(fmt::format("{}/{}: {}", c.plugin, c.kernel,
                                                    c.rejected ? "rejected: " + c.reason
                                                    : c.measured ? fmt::format("{:.1f} us (mad {:.1f})", c.median_us, c.mad_us)
                                                                 : c.reason));
            if (c.measured && !c.rejected && c.median_us > 0) {
                const double y = y_of(c.median_us);
                svg += fmt::format("<rect x='{}' y='{:.1f}' width='{}' height='{:.1f}' fill='{}'{}><title>{}</title></rect>\n",
                                   x, y, bar - 2, top + plot_h - y, fill,
                                   int(i) == s.winner ? " stroke='#000' stroke-width='1.5'" : "", tip);
            } else {
                const int y = top + plot_h - 10;
                svg += fmt::format("<g><title>{}</title><rect x='{}' y='{}' width='{}' height='10' fill='none' stroke='{}'/>"
                                   "<line x1='{}' y1='{}' x2='{}' y2='{}' stroke='#c00'/></g>\n",
                                   tip, x, y, bar - 2, fill, x, y, x + bar - 2, y + 10);
            }
        }
        const int lx = x0 + int(s.candidates.size()) * bar / 2;
        const std::string label = fmt::format("m={} n={} k={}", s.shape.m, s.shape.n, s.shape.k);
        svg += fmt::format("<text transform='translate({},{}) rotate(45)'>{}</text>\n", lx, top + plot_h + 12,
                           esc(s.shape.op == BITNET_OP_ATTENTION ? fmt::format("m={} heads={}", s.shape.m, s.shape.n_heads)
                                                                 : label));
    }
    int ly = height;
    for (const auto& [plugin, idx] : colour) {
        svg += fmt::format("<rect x='{}' y='{}' width='10' height='10' fill='{}'/><text x='{}' y='{}'>{}</text>\n", left,
                           ly, kPalette[idx % 8], left + 14, ly + 9, esc(plugin));
        ly += 20;
    }
    return svg + "</svg>\n";
}
} // namespace

std::string format_html(const TuneReport& r) {
    std::string h = "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>bitnet autotuning report</title>\n"
                    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
                    "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}tr.win{font-weight:bold}"
                    "tr.rej{color:#a00}</style></head><body>\n<h1>bitnet autotuning report</h1>\n";
    h += fmt::format("<p>CPU: {}<br>mode {}, {} signatures ({} measured, {} from cache, {} static), {} timed runs, "
                     "{:.0f} ms of a {} ms budget{}</p>\n", esc(r.cpu), esc(r.mode), r.stats.signatures, r.stats.measured,
                     r.stats.from_cache, r.stats.static_order, r.stats.bench_runs, r.stats.elapsed_ms, r.budget_ms,
                     r.stats.budget_exhausted ? " — <b>budget exhausted</b>: the rest use the static order" : "");
    std::map<std::string, std::vector<const SignatureResult*>> families;
    for (const auto& s : r.signatures) families[s.family].push_back(&s);
    for (const auto& [family, sigs] : families) {
        h += fmt::format("<h2>{}</h2>\n<p>Median time per call, log scale; the winner is outlined, rejected or "
                         "unmeasured candidates are crossed boxes (hover for details).</p>\n", esc(family));
        h += chart(sigs);
        h += "<table><tr><th>signature</th><th>source</th><th>candidate</th><th>status</th><th>median us</th>"
             "<th>mad us</th><th>GOP/s</th><th>GB/s</th><th>note</th></tr>\n";
        for (const auto* s : sigs)
            for (size_t i = 0; i < s->candidates.size(); ++i) {
                const auto& c = s->candidates[i];
                const char* cls = int(i) == s->winner ? " class='win'" : c.rejected ? " class='rej'" : "";
                h += fmt::format("<tr{}><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{:.1f}</td><td>{:.1f}</td>"
                                 "<td>{:.2f}</td><td>{:.2f}</td><td>{}</td></tr>\n", cls, i == 0 ? esc(s->signature) : "",
                                 i == 0 ? esc(s->source) : "", esc(c.plugin), esc(c.kernel),
                                 c.rejected ? "rejected" : "ok", c.median_us, c.mad_us, gops(*s, c), gbps(*s, c),
                                 esc(c.reason));
            }
        h += "</table>\n";
    }
    return h + "</body></html>\n";
}

} // namespace bitnet::tuning
