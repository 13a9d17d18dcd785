#!/usr/bin/env bash
# Stage a GPU check for a machine that has a driver and a GPU but none of our build dependencies
# (the lent H100/H200 machines: CUDA image, no Boost/yaml-cpp/spdlog, nothing can be installed):
# copies the built binaries, plugins, the shared libraries they need beyond glibc/libstdc++, and
# the oracle files small enough to travel, into one folder that tools/gpu-check.sh runs from
# (`BITNET_PREBUILT=DIR tools/gpu-check.sh`).
# Usage: tools/gpu-stage.sh [build-dir] [dest]   (defaults: build/release .gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
DEST=${2:-.gpu}
ORACLE=${BITNET_ORACLE_DIR:-../shared/oracle}
ninja -C "$BUILD" bitnet bitnet-gpu-probe bitnet-plugin-scalar bitnet-plugin-cuda test_cuda_conformance test_device_session bitnet-test-plugin-hostdev
rm -rf "$DEST"
mkdir -p "$DEST"/bin "$DEST"/plugins "$DEST"/test-plugins "$DEST"/lib "$DEST"/oracle
BINS=("$BUILD"/bin/bitnet "$BUILD"/bin/bitnet-gpu-probe "$BUILD"/tests/cuda/test_cuda_conformance "$BUILD"/tests/device/test_device_session)
cp "${BINS[@]}" "$DEST"/bin/
cp "$BUILD"/plugins/libbitnet-scalar.so "$BUILD"/plugins/libbitnet-cuda.so "$DEST"/plugins/
cp "$BUILD"/test-plugins/libbitnet-hostdev.so "$DEST"/test-plugins/
# Every library the binaries resolve outside the C runtime and the compiler's own (the GPU
# machine's newer glibc and libstdc++ serve those).
ldd "${BINS[@]}" "$DEST"/plugins/*.so | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
  grep -v -E '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so' |
  xargs -r cp -L -t "$DEST"/lib/
# The tiny oracle models (the 74 MB ones exceed what may travel).
for f in p2-bitnet-tiny-tq1_0 p2-bitnet-tiny-tq2_0; do
  cp "$ORACLE/$f.gguf" "$ORACLE/$f.ref.json" "$DEST"/oracle/ 2>/dev/null || echo "note: $f not in $ORACLE"
done
du -sh "$DEST"
