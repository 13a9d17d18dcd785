#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <string>

namespace bitnet {

spdlog::logger& logger() {
    static std::shared_ptr<spdlog::logger> instance = [] {
        auto l = spdlog::stderr_color_mt("bitnet");
        l->set_pattern("%^[%l]%$ %v");
        l->set_level(spdlog::level::warn);
        if (const char* lvl = std::getenv("BITNET_LOG_LEVEL"); lvl != nullptr && *lvl != '\0')
            l->set_level(spdlog::level::from_str(lvl));
        return l;
    }();
    return *instance;
}

bool verbose(std::string_view topic) {
    static const std::string topics = [] {
        const char* v = std::getenv("BITNET_VERBOSE");
        return std::string(v ? v : "");
    }();
    size_t pos = 0;
    while (pos <= topics.size()) {
        size_t end = topics.find(',', pos);
        if (end == std::string::npos) end = topics.size();
        std::string_view item(topics.data() + pos, end - pos);
        if (item == topic || item == "all") return true;
        pos = end + 1;
    }
    return false;
}

} // namespace bitnet
