#!/usr/bin/env bash
# bench/infer.sh: vigil's inference engine against TensorFlow.js (wasm
# backend: XNNPACK with SIMD) on the same models, image and input tensor, in
# one run. Prints a Markdown table for docs/BENCHMARKS.md.
#
#   bench/infer.sh [VIGIL_BIN] [RUNS]
#
# Needs scripts/setup-models.sh (models and TF.js). Keep RUNS modest on a
# shared machine; every figure is a median (and p99) over RUNS runs after a
# warm-up run. Each model and thread count gets one row per precision
# (f32, and int8 where the CPU has AVX-512 VNNI; see src/infer/quant.h),
# against the same TF.js run. A second table gives the CPU time per
# inference on one thread (user + system time of --bench 21 minus that of
# --bench 1, over 20), which a busy machine inflates far less than wall
# time: CPU_ROUNDS alternating rounds (default 3), the median. Every run
# includes writing its input (a run consumes it, see docs/INFERENCE.md):
# preprocessing the image, about 2 ms for CenterNet, 1.7 ms for NanoDet.
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
PRECISIONS="f32"
grep -qw avx512_vnni /proc/cpuinfo && PRECISIONS="f32 int8"
CPU_ROUNDS=${CPU_ROUNDS:-3}
echo "| model | threads | precision | vigil median ms | vigil p99 ms | GFLOP/s | % of f32 peak | TF.js wasm median ms | TF.js p99 ms | speed-up |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for model in nanodet centernet; do
  "$VIGIL" infer --model "$model" --image "$IMAGE" --dump-input "$TMP/$model.in" >/dev/null
  for threads in 1 "$CORES"; do
    t=$(cd tests/infer && node reference.js --model "../../models/$model.json" --input "$TMP/$model.in" \
          --backend wasm --threads "$threads" --bench "$RUNS" 2>/dev/null | tail -1)
    tm=$(echo "$t" | field median_ms); tp=$(echo "$t" | field p99_ms)
    for prec in $PRECISIONS; do
      v=$("$VIGIL" infer --model "$model" --image "$IMAGE" --threads "$threads" --precision "$prec" \
            --bench "$RUNS" --json)
      vm=$(echo "$v" | field median_ms); vp=$(echo "$v" | field p99_ms); gf=$(echo "$v" | field gflops)
      awk -v m="$model" -v th="$threads" -v pr="$prec" -v vm="$vm" -v vp="$vp" -v gf="$gf" -v tm="$tm" \
        -v tp="$tp" -v pk="$PEAK" \
        'BEGIN {printf "| %s | %s | %s | %.1f | %.1f | %.1f | %.0f%% | %.1f | %.1f | %.1fx |\n", m, th, pr, vm, vp,
                gf, 100 * gf / (pk * th), tm, tp, tm / vm}'
      if [ "$prec" = f32 ]; then echo "$v" > "$TMP/$model.json"; fi
    done
  done
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

# CPU time per inference, one thread, the precisions alternating.
cpu_ms() {
  local a b
  a=$( { /usr/bin/time -f "%U %S" "$VIGIL" infer --model "$1" --image "$IMAGE" --precision "$2" --bench 21 \
         >/dev/null; } 2>&1 | tail -1)
  b=$( { /usr/bin/time -f "%U %S" "$VIGIL" infer --model "$1" --image "$IMAGE" --precision "$2" --bench 1 \
         >/dev/null; } 2>&1 | tail -1)
  echo "$a $b" | awk '{printf "%.1f", (($1 + $2) - ($3 + $4)) * 1000 / 20}'
}
echo
echo "CPU ms per inference, 1 thread, median of $CPU_ROUNDS alternating rounds (the rounds in parentheses):"
echo
echo "| model | $(echo $PRECISIONS | sed 's/ / | /g') |"
echo "| --- |$(for p in $PRECISIONS; do printf ' --- |'; done)"
for model in nanodet centernet; do
  row="| $model |"
  for prec in $PRECISIONS; do : > "$TMP/cpu.$prec"; done
  for r in $(seq "$CPU_ROUNDS"); do
    for prec in $PRECISIONS; do cpu_ms "$model" "$prec" >> "$TMP/cpu.$prec"; echo >> "$TMP/cpu.$prec"; done
  done
  for prec in $PRECISIONS; do
    med=$(sort -n "$TMP/cpu.$prec" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    row="$row $med ms ($(paste -sd, "$TMP/cpu.$prec" | sed 's/,/, /g')) |"
  done
  echo "$row"
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
