#!/usr/bin/env bash
# The test command (README.md and .ci/run): configure + build the release preset, then run the
# whole suite with ctest. Tests that read ../shared/oracle find it next to the checkout (or in
# $BITNET_ORACLE_DIR) and say plainly when they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET="${1:-release}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake --preset "$PRESET"
cmake --build --preset "$PRESET"
ctest --preset "$PRESET" -j2
