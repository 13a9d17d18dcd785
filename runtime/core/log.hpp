// Process-wide logger (spdlog, to stderr so stdout stays clean for generated text and JSON).
#pragma once

#include <spdlog/spdlog.h>

namespace bitnet {

// The runtime's logger. Level from BITNET_LOG_LEVEL (trace|debug|info|warn|error|off), default warn.
spdlog::logger& logger();

// True when BITNET_VERBOSE contains `topic` (comma-separated list, e.g. "dispatch,load").
bool verbose(std::string_view topic);

} // namespace bitnet
