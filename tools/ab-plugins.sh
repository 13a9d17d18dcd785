#!/usr/bin/env bash
# A/B of two plugin builds under one host binary: alternates `bitnet bench --plugin-dir A` and
# `--plugin-dir B` K times (A B A B ...) on one model file, so a slow spell of a shared machine
# lands on both, and prints each run's tg tokens/s and ms per token of every signature
# (--profile), then the medians and B's change against A. The two builds must share the plugin
# ABI's major version (the host refuses others).
#
#   tools/ab-plugins.sh DIR_A DIR_B -m FILE [-t THREADS] [-n TOKENS] [-k ROUNDS] [-- extra bench args]
#
# Plugins of another commit: git worktree add /tmp/old REV && cmake -S /tmp/old -B /tmp/old/b
# -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/old/b --target bitnet-plugin-avx512
# bitnet-plugin-avx2 bitnet-plugin-scalar, then DIR_A=/tmp/old/b/plugins. Needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
A=$1 B=$2
shift 2
MODEL="" THREADS=2 TOKENS=64 ROUNDS=4 EXTRA=()
while [ $# -gt 0 ]; do
    case $1 in
        -m) MODEL=$2; shift 2 ;;
        -t) THREADS=$2; shift 2 ;;
        -n) TOKENS=$2; shift 2 ;;
        -k) ROUNDS=$2; shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$MODEL" ] || { echo "-m FILE is required" >&2; exit 2; }
BIN=${BITNET_BIN:-build/release/bin/bitnet}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for ((r = 0; r < ROUNDS; ++r)); do
    for side in A B; do
        dir=$A
        [ $side = B ] && dir=$B
        "$BIN" bench -m "$MODEL" --plugin-dir "$dir" -t "$THREADS" -p 0 -n "$TOKENS" -r 1 --profile --json \
            "${EXTRA[@]}" > "$OUT/$side.$r.json"
    done
done
python3 - "$OUT" "$ROUNDS" <<'EOF'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
runs = {s: [json.load(open(f"{out}/{s}.{r}.json")) for r in range(rounds)] for s in "AB"}
def rows(d):
    return {f"{x['signature']} [{x['kernel'].split('/')[0]}]": x["ms_per_unit"] for x in d["profile"]["tg"]["rows"]}
print("run  " + "  ".join(f"A {d['tg']['tokens_per_s']:6.2f} | B {e['tg']['tokens_per_s']:6.2f}" for d, e in zip(runs["A"], runs["B"])) + "  tg tok/s")
med = {s: statistics.median(d["tg"]["tokens_per_s"] for d in runs[s]) for s in "AB"}
print(f"tg tokens/s median: A {med['A']:.2f}  B {med['B']:.2f}  ({100 * (med['B'] / med['A'] - 1):+.1f} %)")
sig = {}
for s in "AB":
    for d in runs[s]:
        for k, v in rows(d).items():
            base = k.rsplit(" [", 1)[0]
            sig.setdefault(base, {"A": [], "B": []})[s].append(v)
print(f"{'ms per token (median of runs)':<62} {'A':>8} {'B':>8} {'B/A':>6}")
for k, v in sorted(sig.items(), key=lambda kv: -statistics.median(kv[1]["A"] or [0])):
    if not v["A"] or not v["B"]:
        continue
    a, b = statistics.median(v["A"]), statistics.median(v["B"])
    if a < 0.05:
        continue
    print(f"{k:<62} {a:8.3f} {b:8.3f} {b / a:6.2f}")
EOF
