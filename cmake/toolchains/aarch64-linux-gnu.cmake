# Cross toolchain for 64-bit ARM Linux with Debian's multiarch cross compilers
# (g++-aarch64-linux-gnu, libc6-dev-arm64-cross), whose target libraries live in
# /usr/aarch64-linux-gnu. Binaries built with it run on x86 under qemu-user:
#   qemu-aarch64 -L /usr/aarch64-linux-gnu ./test   (QEMU_CPU=max for dotprod)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(BITNET_CROSS_TRIPLE aarch64-linux-gnu)
set(BITNET_CROSS_SYSROOT /usr/${BITNET_CROSS_TRIPLE} CACHE PATH "Target libraries of the cross compiler")
set(CMAKE_C_COMPILER ${BITNET_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${BITNET_CROSS_TRIPLE}-g++)

# Look for libraries, headers and packages of the target only; programs (ninja, ccache) are the host's.
set(CMAKE_FIND_ROOT_PATH ${BITNET_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Lets `ctest` inside the cross build dir (and any try_run) execute target binaries.
find_program(BITNET_QEMU_AARCH64 qemu-aarch64)
if(BITNET_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${BITNET_QEMU_AARCH64} -L ${BITNET_CROSS_SYSROOT})
endif()
