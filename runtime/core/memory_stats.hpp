// Process memory figures for the run/bench summaries.
#pragma once

#include <cstdint>

namespace bitnet {

// Peak resident set size of this process in bytes (VmHWM), 0 if unknown.
uint64_t peak_rss_bytes();
// Resets the peak (VmHWM) to the current resident set (Linux /proc/self/clear_refs, "5"), so a
// later peak_rss_bytes() leaves out memory freed before the call. False when refused.
bool reset_peak_rss();
// Current resident set size in bytes (VmRSS), 0 if unknown.
uint64_t current_rss_bytes();
// Physical memory of the machine in bytes, 0 if unknown.
uint64_t physical_memory_bytes();

} // namespace bitnet
