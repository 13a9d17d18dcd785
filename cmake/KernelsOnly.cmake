# BITNET_KERNELS_ONLY=ON: the subset of the project that needs nothing but a C++ compiler and the
# googletest sources: the plugin SDK, runtime/formats, the scalar reference plugin, the plugin of
# the target ISA (neon on aarch64) and the kernel conformance tests. It exists for cross builds
# (cmake/toolchains/aarch64-linux-gnu.cmake), whose sysroot has none of the host's dependencies
# (Boost, yaml-cpp, PCRE2, spdlog, OpenBLAS). Included from the top-level CMakeLists.txt, which
# stops reading itself right after.
find_package(Threads REQUIRED)

set(BITNET_BUILD_PLUGIN_DIR "${CMAKE_BINARY_DIR}/plugins")

# Same binary dirs as the full build, so plugin_library() and test paths are unchanged.
add_subdirectory(plugin-sdk)
add_subdirectory(runtime/formats)
add_subdirectory(plugins)

if(BITNET_BUILD_TESTS)
  # GoogleTest from source: Debian's `googletest` package ships it for the host only as sources
  # (/usr/src/googletest), and a cross sysroot has no prebuilt libgtest for the target.
  set(BITNET_GTEST_SOURCE_DIR /usr/src/googletest CACHE PATH "GoogleTest sources built into kernels-only builds")
  if(NOT EXISTS ${BITNET_GTEST_SOURCE_DIR}/CMakeLists.txt)
    message(FATAL_ERROR "BITNET_KERNELS_ONLY tests need GoogleTest sources at ${BITNET_GTEST_SOURCE_DIR} "
                        "(Debian package `googletest`), or -DBITNET_BUILD_TESTS=OFF")
  endif()
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory(${BITNET_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL SYSTEM)
  # Third-party sources: GCC 12's false -Wrestrict in gtest.cc is not ours to fix, nor to show.
  set_property(TARGET gtest gtest_main APPEND PROPERTY COMPILE_OPTIONS -w)
  enable_testing()
  add_subdirectory(tests/neon)
endif()
