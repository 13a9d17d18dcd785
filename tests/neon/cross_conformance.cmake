# ctest's neon_conformance_qemu (see CMakeLists.txt here), run as `cmake -D... -P`:
#  1. configures BUILD_DIR as a kernels-only aarch64 cross build (once; later builds re-run CMake
#     by themselves when a CMakeLists changes),
#  2. builds the scalar and neon plugins and test_neon_conformance,
#  3. runs the binary under qemu-aarch64 on a CPU model with dotprod (QEMU_CPU=max): every case,
#  4. runs its probe tests again on a CPU model without dotprod (cortex-a53), where the plugin must
#     load, refuse with a reason, and skip its kernels.
# Any failing step fails the test, with the step named.
foreach(var SOURCE_DIR BUILD_DIR GENERATOR BUILD_TYPE QEMU SYSROOT GTEST_SOURCE_DIR JOBS)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "cross_conformance.cmake: -D${var}=... is required")
  endif()
endforeach()

function(step what)
  string(TIMESTAMP t0 "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  string(TIMESTAMP t1 "%s")
  math(EXPR secs "${t1} - ${t0}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "neon conformance: ${what} failed (${rc}) after ${secs} s")
  endif()
  message(STATUS "neon conformance: ${what}: ok, ${secs} s")
endfunction()

if(NOT EXISTS ${BUILD_DIR}/CMakeCache.txt)
  set(launcher)
  if(CCACHE)
    set(launcher -DCMAKE_C_COMPILER_LAUNCHER=${CCACHE} -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE})
  endif()
  step("configuring the aarch64 cross build in ${BUILD_DIR}"
    ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BUILD_DIR} -G ${GENERATOR}
      -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
      -DCMAKE_TOOLCHAIN_FILE=${SOURCE_DIR}/cmake/toolchains/aarch64-linux-gnu.cmake
      -DBITNET_CROSS_SYSROOT=${SYSROOT}
      -DBITNET_GTEST_SOURCE_DIR=${GTEST_SOURCE_DIR}
      -DBITNET_KERNELS_ONLY=ON
      ${launcher})
endif()

step("building the aarch64 plugins and test_neon_conformance"
  ${CMAKE_COMMAND} --build ${BUILD_DIR} --parallel ${JOBS}
    --target bitnet-plugin-scalar bitnet-plugin-neon test_neon_conformance)

set(test_binary ${BUILD_DIR}/tests/neon/test_neon_conformance)
step("test_neon_conformance under qemu-aarch64 (QEMU_CPU=max)"
  ${CMAKE_COMMAND} -E env --unset=BITNET_MAX_ISA QEMU_CPU=max BITNET_TEST_EXPECT_DOTPROD=1
    ${QEMU} -L ${SYSROOT} ${test_binary})
step("the probe tests under qemu-aarch64 without dotprod (QEMU_CPU=cortex-a53)"
  ${CMAKE_COMMAND} -E env --unset=BITNET_MAX_ISA QEMU_CPU=cortex-a53 BITNET_TEST_EXPECT_DOTPROD=0
    ${QEMU} -L ${SYSROOT} ${test_binary} --gtest_brief=1)
