#!/usr/bin/env bash
# Installs every Debian 12 package the build, the tests and the cross-built neon plugin need.
# Run as root (or through sudo). Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build ccache pkg-config git ca-certificates \
  libboost-dev libboost-filesystem-dev libboost-program-options-dev \
  libyaml-cpp-dev libopenblas-dev googletest libgtest-dev libgmock-dev libbenchmark-dev \
  libpcre2-dev nlohmann-json3-dev libfmt-dev libspdlog-dev \
  g++-aarch64-linux-gnu qemu-user
