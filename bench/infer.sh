#!/usr/bin/env bash
# bench/infer.sh: vigil's inference engine against TensorFlow.js (wasm
# backend: XNNPACK with SIMD) on the same models, image and input tensor, in
# one run. Prints a Markdown table for docs/BENCHMARKS.md.
#
#   bench/infer.sh [VIGIL_BIN] [RUNS]
#
# Needs scripts/setup-models.sh (models and TF.js). Keep RUNS modest on a
# shared machine; every figure is a median (and p99) over RUNS runs after a
# warm-up run.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL=${1:-build/vigil}
RUNS=${2:-20}
IMAGE=${IMAGE:-/usr/share/doc/opencv-doc/examples/data/messi5.jpg}
CORES=$(nproc)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The core's peak: AVX-512 (or AVX2) FMA, two pipes, at the nominal clock.
MHZ=$(awk -F: '/cpu MHz/ {print $2; exit}' /proc/cpuinfo | tr -d ' ')
if grep -qw avx512f /proc/cpuinfo; then LANES=16; elif grep -qw avx2 /proc/cpuinfo; then LANES=8; else LANES=4; fi
PEAK=$(awk -v m="$MHZ" -v l="$LANES" 'BEGIN {printf "%.1f", m / 1000 * l * 2 * 2}')

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

echo "CPU: $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $CORES cores, ${MHZ} MHz;" \
     "per-core f32 peak ${PEAK} GFLOP/s (${LANES}-lane FMA x2)"
echo
echo "| model | threads | vigil median ms | vigil p99 ms | GFLOP/s | % of peak | TF.js wasm median ms | TF.js p99 ms | speed-up |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for model in nanodet centernet; do
  "$VIGIL" infer --model "$model" --image "$IMAGE" --dump-input "$TMP/$model.in" >/dev/null
  for threads in 1 "$CORES"; do
    v=$("$VIGIL" infer --model "$model" --image "$IMAGE" --threads "$threads" --bench "$RUNS" --json)
    t=$(cd tests/infer && node reference.js --model "../../models/$model.json" --input "$TMP/$model.in" \
          --backend wasm --threads "$threads" --bench "$RUNS" 2>/dev/null | tail -1)
    vm=$(echo "$v" | field median_ms); vp=$(echo "$v" | field p99_ms); gf=$(echo "$v" | field gflops)
    tm=$(echo "$t" | field median_ms); tp=$(echo "$t" | field p99_ms)
    awk -v m="$model" -v th="$threads" -v vm="$vm" -v vp="$vp" -v gf="$gf" -v tm="$tm" -v tp="$tp" -v pk="$PEAK" \
      'BEGIN {printf "| %s | %s | %.1f | %.1f | %.1f | %.0f%% | %.1f | %.1f | %.1fx |\n", m, th, vm, vp, gf,
              100 * gf / (pk * th), tm, tp, tm / vm}'
  done
  echo "$v" > "$TMP/$model.json"
done
echo
echo "Memory (the runs on $CORES threads; MiB; weights: the file's weights as f32; engine: weights as kept"
echo "plus the planned arena of inputs, activations and outputs; process: peak resident set of vigil"
echo "infer from after decoding the image to the end of the runs, less the resident set then):"
echo
echo "| model | weights | kept weights | arena | engine | engine / weights | process | process / weights |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for model in nanodet centernet; do
  v=$(cat "$TMP/$model.json")
  awk -v m="$model" -v fw="$(echo "$v" | field file_weights_bytes)" -v w="$(echo "$v" | field weights_bytes)" \
      -v a="$(echo "$v" | field arena_bytes)" -v r="$(echo "$v" | field rss_added_kib)" \
    'BEGIN {M = 1048576; printf "| %s | %.1f | %.1f | %.1f | %.1f | %.2fx | %.1f | %.2fx |\n", m, fw / M, w / M, a / M,
            (w + a) / M, (w + a) / fw, r / 1024, r * 1024 / fw}'
done
echo
for model in nanodet centernet; do
  v=$(cat "$TMP/$model.json")
  echo "$model: $(echo "$v" | field gflop) GFLOP per run; weights $(( $(echo "$v" | field weights_bytes) / 1048576 )) MiB," \
       "planned arena (inputs, activations, outputs) $(( $(echo "$v" | field arena_bytes) / 1048576 )) MiB" \
       "(without reuse: $(( $(echo "$v" | field unplanned_bytes) / 1048576 )) MiB)"
done
