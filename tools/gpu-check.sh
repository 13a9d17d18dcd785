#!/usr/bin/env bash
# GPU check, run on a machine with an NVIDIA GPU (H100/H200: a few minutes):
#   1. release build with the cuda plugin (CUDA architectures: the top-level default, or $CUDA_ARCHS),
#      or, with BITNET_PREBUILT=DIR, the binaries tools/gpu-stage.sh put in DIR (for GPU machines
#      without our build dependencies),
#   2. the cuda tests (conformance vs scalar over the shared signature list, device session vs
#      CPU session on oracle and generated models, oracle logits on cuda),
#   3. a synthetic 2B-4T model (I2_S linears, Q6_K head),
#   4. benchmarks: decode tokens/s at batch 1, 4, 16 (tokens of one sequence per step) and for 4
#      and 16 sequences decoded in parallel, time to first token for a 128-token prompt,
#      VRAM used, and the weight bytes read per second against the card's measured D2D copy
#      bandwidth; a table at the end.
# Every step runs even when an earlier one fails; the exit status says whether all passed. Full
# logs go to $LOGS (default: $OUT when set, else the build folder).
# BITNET_GPU_CHECK_DRY=1: every step on this machine's CPU instead, in an existing build folder,
# through the test-only hostdev plugin and a tiny generated model: it checks this script and the
# probe without a GPU (the figures mean nothing).
# Usage: tools/gpu-check.sh [build-dir]   (default build/gpu-check)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/gpu-check}
JOBS=${JOBS:-$(nproc)}
FAILED=()
DRY=${BITNET_GPU_CHECK_DRY:-0}
TARGETS=(bitnet bitnet-gpu-probe test_cuda_conformance test_device_session bitnet-test-plugin-hostdev)
if [[ -n "${BITNET_PREBUILT:-}" ]]; then
  PRE=$(cd "$BITNET_PREBUILT" && pwd)
  BIN=$PRE/bin TESTS=$PRE/bin SESSION_TESTS=$PRE/bin PLUGINS=$PRE/plugins
  export LD_LIBRARY_PATH="$PRE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export BITNET_TEST_PLUGIN_DIR=$PLUGINS BITNET_TEST_HOSTDEV_DIR=$PRE/test-plugins
  export BITNET_HOSTDEV_INNER=$PLUGINS/libbitnet-scalar.so
  export BITNET_TEST_GPU_PROBE=$BIN/bitnet-gpu-probe
  HOSTDEV=$PRE/test-plugins
  [[ -d "$PRE/oracle" && -z "${BITNET_ORACLE_DIR:-}" ]] && export BITNET_ORACLE_DIR=$PRE/oracle
  mkdir -p "$BUILD"
elif [[ $DRY == 1 ]]; then
  BIN=$BUILD/bin TESTS=$BUILD/tests/cuda SESSION_TESTS=$BUILD/tests/device PLUGINS=$BUILD/plugins
  HOSTDEV=$BUILD/test-plugins
  echo "== dry run on the CPU (hostdev) in $BUILD"
  ninja -C "$BUILD" "${TARGETS[@]}" >/dev/null || exit 1
else
  BIN=$BUILD/bin TESTS=$BUILD/tests/cuda SESSION_TESTS=$BUILD/tests/device PLUGINS=$BUILD/plugins
  HOSTDEV=$BUILD/test-plugins
  ARCH_ARGS=()
  [[ -n "${CUDA_ARCHS:-}" ]] && ARCH_ARGS=(-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS")
  echo "== build (release, BITNET_WITH_CUDA=ON)"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBITNET_WITH_CUDA=ON -DBITNET_BUILD_BENCH=OFF "${ARCH_ARGS[@]}" >/dev/null &&
    ninja -C "$BUILD" -j"$JOBS" "${TARGETS[@]}" || exit 1
fi
# What the probes measure: cuda on the 2B-4T shape, or (dry run) hostdev on a tiny model.
if [[ $DRY == 1 ]]; then
  DEVICE=hostdev PROBE_DIR=$HOSTDEV SHAPE=tiny PROBE_EXTRA=(--d2d-mib 16)
else
  DEVICE=cuda PROBE_DIR=$PLUGINS SHAPE=2b-4t PROBE_EXTRA=()
fi
probe() { "$BIN"/bitnet-gpu-probe --plugin-dir "$PROBE_DIR" --device "$DEVICE" "${PROBE_EXTRA[@]}" "$@"; }
LOGS=${LOGS:-${OUT:-$BUILD}}
mkdir -p "$LOGS"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv,noheader

step() { # step NAME CMD...: run, keep the full log, print the tail and failures
  local name=$1; shift
  echo "== $name"
  "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  grep -E '^\[(cuda session|hostdev session|device session|oracle|conformance)\]|FAILED|Failure|error|Error' "$LOGS/$name.log" | head -60
  tail -4 "$LOGS/$name.log"
  if [[ $rc -ne 0 ]]; then FAILED+=("$name (rc $rc)"); fi
  return $rc
}

step conformance "$TESTS"/test_cuda_conformance --gtest_brief=1
if [[ $? -ne 0 ]] && command -v compute-sanitizer >/dev/null; then
  step sanitizer timeout 240 compute-sanitizer --tool memcheck --print-limit 20 "$TESTS"/test_cuda_conformance --gtest_brief=1
fi
step session "$SESSION_TESTS"/test_device_session --gtest_brief=1

echo "== $SHAPE model (i2_s, q6_k head)"
MODEL="$BUILD/gpu-check-$SHAPE.gguf"
[[ -f "$MODEL" ]] || "$BIN"/bitnet gen-model --shape "$SHAPE" --weights i2_s --head q6_k --out "$MODEL" >"$LOGS/gen-model.log" 2>&1 ||
  { FAILED+=(gen-model); cat "$LOGS/gen-model.log"; }

step probe probe -m "$MODEL" --prompt 128 --steps 64 --batches 1,4,16 --parallel 4,16
PROBE=$(cat "$LOGS/probe.log")
echo "$PROBE"
val() { awk -v k="$1" '$1 == k { print $2 }' <<<"$PROBE"; }
D2D=$(val d2d_gbs)
pct() { awk -v a="$1" -v b="$D2D" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "?" }'; }
echo
echo "| $(awk '$1 == "device" { $1 = ""; print substr($0, 2) }' <<<"$PROBE") | value |"
echo "|---|---|"
echo "| D2D copy bandwidth (read+write) | ${D2D} GB/s |"
echo "| VRAM used by the session (weights $(val weights_mib) MiB, KV $(val kv_mib) MiB) | $(val vram_mib) MiB; allowed (file $(val file_mib) + KV) x 1.1 = $(awk -v f="$(val file_mib)" -v k="$(val kv_mib)" 'BEGIN { printf "%.0f", (f + k) * 1.1 }') MiB |"
echo "| time to first token, 128-token prompt | $(val ttft_ms) ms |"
for b in 1 4 16; do
  echo "| decode, batch $b (tokens of one sequence) | $(val tg${b}_tps) tok/s, weights at $(val tg${b}_weight_gbs) GB/s = $(pct "$(val tg${b}_weight_gbs)") of D2D |"
done
for n in 4 16; do
  echo "| decode, $n sequences in parallel | $(val par${n}_tps) tok/s aggregate, weights at $(val par${n}_weight_gbs) GB/s |"
done
# A/B of the switches that are off (or on) by default until a GPU has timed them, same machine:
# the one-kernel attention, the early weight loads of the decode GEMV, the decode GEMV that runs its
# norm itself (NORM_GEMV=0: a NORM_QUANTIZE launch first), the host's fused blocks (FUSED_BLOCKS=0:
# a call per norm, the residual added by the next norm), all ABI 1.5 fused calls (FUSED_CALLS=0:
# also a call per weight and a separate FFN activation), the head's rows staged in shared memory,
# and one cudaMalloc per allocation instead of the arena.
AB_TABLE=()
ab() { # ab NAME ENV=VALUE: the probe's headline figures with one switch flipped, as a table row
  local name=$1 setting=$2
  step "probe_$name" env "$setting" "$BIN"/bitnet-gpu-probe --plugin-dir "$PROBE_DIR" --device "$DEVICE" "${PROBE_EXTRA[@]}" \
    -m "$MODEL" --prompt 128 --steps 32 --batches 1,16 --parallel 16
  local log="$LOGS/probe_$name.log"
  vf() { awk -v k="$1" '$1 == k { print $2 }' "$log"; }
  AB_TABLE+=("| A/B: $setting | TTFT $(vf ttft_ms) ms, batch 1 $(vf tg1_tps), batch 16 $(vf tg16_tps), 16 sequences $(vf par16_tps) tok/s |")
}
ab fused BITNET_CUDA_FUSED_ATTENTION=1
ab noearly BITNET_CUDA_EARLY_WEIGHTS=0
ab nonormgemv BITNET_CUDA_NORM_GEMV=0
ab noblocks BITNET_FUSED_BLOCKS=0
ab nofusedcalls BITNET_CUDA_FUSED_CALLS=0
ab nostagedhead BITNET_CUDA_STAGED_HEAD=0
step probe_noarena env BITNET_CUDA_ARENA=0 "$BIN"/bitnet-gpu-probe --plugin-dir "$PROBE_DIR" --device "$DEVICE" \
  "${PROBE_EXTRA[@]}" -m "$MODEL" --prompt 16 --steps 4 --batches 1
printf '%s\n' "${AB_TABLE[@]}"
echo "| A/B: BITNET_CUDA_ARENA=0 (cudaMalloc each) | VRAM $(awk '$1 == "vram_mib" { print $2 }' "$LOGS/probe_noarena.log") MiB |"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "FAILED: ${FAILED[*]}"
  exit 1
fi
echo "all GPU checks passed"
