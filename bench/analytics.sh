#!/usr/bin/env bash
# bench/analytics.sh: the analytics pipeline on vtest.avi served by camsim.
#
#   bench/analytics.sh [VIGIL_BIN] [SECONDS] [CAMERAS...]
#
# 1. Detector calls per second for one camera with motion gating (the
#    default: regions with motion or tracks, a full-frame check every 5 s)
#    and without (full_frame_interval_s 0: the whole picture on every
#    analysed frame).
# 2. For each camera count: analysed frames per second per camera (target:
#    detect_fps 5), frames skipped because the pool was behind, and the CPU
#    vigil used, on one analytics thread; cameras per core = cameras x
#    (analysed fps / 5) / CPU cores used.
#
# Needs scripts/setup-models.sh (models) and opencv-doc (vtest.avi). Prints
# Markdown tables for docs/BENCHMARKS.md. Keep SECONDS modest on a shared
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL=${1:-build/vigil}
SECS=${2:-30}
shift 2 2>/dev/null || shift $#
COUNTS=("${@:-1 2 4}")
VTEST=/usr/share/doc/opencv-doc/examples/data/vtest.avi
MODELS=${VIGIL_MODELS:-$PWD/models}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Sum of a metric's samples (optionally only those with a label match).
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" -v f="${3:-}" '$1 ~ "^"n"({|$)" && index($1, f) {s += $2} END {printf "%.2f", s}'; }

# start_camsim CAMERAS: sets SIM (its port) and SIMPID. Not in a $(...)
# subshell, so that the pids reach the cleanup trap.
start_camsim() {
  SIM=$(port)
  "$VIGIL" camsim --port "$SIM" --cameras "$1" --source "$VTEST" --size 768x576 --fps 10 --gop 10 \
    --duration-s 20 --bitrate 1M --cache-dir "$TMP" >"$TMP/camsim.log" 2>&1 &
  SIMPID=$!
  PIDS+=($SIMPID)
  until grep -q "camsim: serving" "$TMP/camsim.log"; do sleep 0.2; done
}

# run_vigil CAMSIM_PORT CAMERAS EXTRA_ANALYTICS_JSON: sets HTTP (its port) and VPID.
run_vigil() {
  local http rtsp cams=""
  http=$(port)
  rtsp=$(port)
  for i in $(seq 1 "$2"); do
    cams+="${cams:+,}{\"id\":\"c$i\",\"url\":\"rtsp://127.0.0.1:$1/cam$i\",\"analytics\":{\"classes\":[\"person\"]}}"
  done
  cat >"$TMP/cfg.json" <<EOF
{"log_level":"warn","http":{"port":$http,"bind":"127.0.0.1"},"rtsp_server":{"port":$rtsp,"bind":"127.0.0.1"},
 "analytics":{"enabled":true,"models_dir":"$MODELS","threads":1,"detect_threads":1$3},"cameras":[$cams]}
EOF
  "$VIGIL" run -c "$TMP/cfg.json" >"$TMP/vigil.log" 2>&1 &
  VPID=$!
  PIDS+=($VPID)
  until curl -sf "http://127.0.0.1:$http/metrics" >/dev/null; do sleep 0.2; done
  HTTP=$http
}

measure() { # http -> "detect/s analysed/s skipped/s cpu"
  local h=$1 d0 a0 s0 c0 d1 a1 s1 c1
  sleep 5 # warm-up: connections, model load, first keyframes
  d0=$(metric "$h" vigil_detect_frames_total); a0=$(metric "$h" vigil_analytics_frames_total)
  s0=$(metric "$h" vigil_analytics_skipped_frames_total); c0=$(metric "$h" vigil_process_cpu_seconds_total)
  sleep "$SECS"
  d1=$(metric "$h" vigil_detect_frames_total); a1=$(metric "$h" vigil_analytics_frames_total)
  s1=$(metric "$h" vigil_analytics_skipped_frames_total); c1=$(metric "$h" vigil_process_cpu_seconds_total)
  awk -v d="$(echo "$d1 - $d0" | bc)" -v a="$(echo "$a1 - $a0" | bc)" -v s="$(echo "$s1 - $s0" | bc)" \
      -v c="$(echo "$c1 - $c0" | bc)" -v t="$SECS" 'BEGIN {printf "%.2f %.2f %.2f %.2f", d/t, a/t, s/t, c/t}'
}

stop_vigil() { kill "$VPID"; wait "$VPID" 2>/dev/null || true; }

echo "CPU: $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(nproc) cores; ${SECS} s per run"
echo
echo "| vtest.avi, 1 camera, 5 fps | detector calls/s | analysed frames/s | CPU cores used |"
echo "| --- | --- | --- | --- |"
start_camsim 1
for mode in gated full; do
  extra=""
  [ "$mode" = full ] && extra=',"full_frame_interval_s":0'
  run_vigil "$SIM" 1 "$extra"
  read -r d a s c <<<"$(measure "$HTTP")"
  stop_vigil
  echo "| $([ "$mode" = gated ] && echo "motion-gated regions" || echo "full frame, every analysed frame") | $d | $a | $c |"
done
kill "$SIMPID"
echo
echo "| cameras | analysed fps per camera | skipped frames/s | CPU cores used | cameras per core at 5 fps |"
echo "| --- | --- | --- | --- | --- |"
for n in ${COUNTS[@]}; do
  start_camsim "$n"
  run_vigil "$SIM" "$n" ""
  read -r d a s c <<<"$(measure "$HTTP")"
  stop_vigil
  kill "$SIMPID" 2>/dev/null || true
  awk -v n="$n" -v a="$a" -v s="$s" -v c="$c" \
    'BEGIN {per = a / n; printf "| %d | %.2f | %.2f | %.2f | %.1f |\n", n, per, s, c, (c > 0 ? n * (per / 5) / c : 0)}'
done
