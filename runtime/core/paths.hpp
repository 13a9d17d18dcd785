// Well-known locations: the running executable, the user cache folder.
#pragma once

#include <filesystem>

namespace bitnet {

// Absolute path of the running executable (from /proc/self/exe); empty if unknown.
std::filesystem::path executable_path();
// $XDG_CACHE_HOME/bitnet-runtime, else $HOME/.cache/bitnet-runtime, else the temp dir's
// bitnet-runtime-cache. Not created here.
std::filesystem::path user_cache_dir();

} // namespace bitnet
