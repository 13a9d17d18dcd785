#!/usr/bin/env bash
# GPU check, run on a machine with an NVIDIA GPU (H100/H200: a few minutes):
#   1. release build with the cuda plugin (CUDA architectures: the top-level default, or $CUDA_ARCHS),
#   2. the cuda tests (conformance vs scalar over the shared signature list, device session vs
#      CPU session, oracle logits on cuda),
#   3. a synthetic 2B-4T model (I2_S linears, Q6_K head),
#   4. benchmarks: decode tokens/s at batch 1, 4, 16, time to first token for a 128-token prompt,
#      VRAM used, and the weight bytes read per second against the card's measured D2D copy
#      bandwidth; a table at the end.
# Usage: tools/gpu-check.sh [build-dir]   (default build/gpu-check)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/gpu-check}
JOBS=${JOBS:-$(nproc)}
ARCH_ARGS=()
[[ -n "${CUDA_ARCHS:-}" ]] && ARCH_ARGS=(-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS")
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo "== build (release, BITNET_WITH_CUDA=ON)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBITNET_WITH_CUDA=ON -DBITNET_BUILD_BENCH=OFF "${ARCH_ARGS[@]}" >/dev/null
ninja -C "$BUILD" -j"$JOBS" bitnet bitnet-gpu-probe test_cuda_conformance test_cuda_session

echo "== cuda tests"
"$BUILD"/tests/cuda/test_cuda_conformance --gtest_brief=1
"$BUILD"/tests/cuda/test_cuda_session --gtest_brief=1

echo "== 2B-4T model (i2_s, q6_k head)"
MODEL="$BUILD/gpu-check-2b4t.gguf"
[[ -f "$MODEL" ]] || "$BUILD"/bin/bitnet gen-model --shape 2b-4t --weights i2_s --head q6_k --out "$MODEL"

echo "== benchmark"
OUT=$("$BUILD"/bin/bitnet-gpu-probe --plugin-dir "$BUILD"/plugins -m "$MODEL" --prompt 128 --steps 64 --batches 1,4,16)
echo "$OUT"
val() { awk -v k="$1" '$1 == k { print $2 }' <<<"$OUT"; }
D2D=$(val d2d_gbs)
pct() { awk -v a="$1" -v b="$D2D" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "?" }'; }
echo
echo "| $(awk '$1 == "device" { $1 = ""; print substr($0, 2) }' <<<"$OUT") | value |"
echo "|---|---|"
echo "| D2D copy bandwidth (read+write) | ${D2D} GB/s |"
echo "| VRAM used by the session (weights $(val weights_mib) MiB) | $(val vram_mib) MiB |"
echo "| time to first token, 128-token prompt | $(val ttft_ms) ms |"
for b in 1 4 16; do
  echo "| decode, batch $b | $(val tg${b}_tps) tok/s, weights at $(val tg${b}_weight_gbs) GB/s = $(pct "$(val tg${b}_weight_gbs)") of D2D |"
done
