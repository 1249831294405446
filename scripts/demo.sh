#!/usr/bin/env bash
# The demo behind `make run`: simulated cameras (vigil camsim) and a vigil
# node that ingests them, restreams them and serves the API and web app.
# Ctrl-C stops everything.
set -euo pipefail
VIGIL=${1:-build/vigil}
CONFIG=${2:-config/demo.json}
VTEST=/usr/share/doc/opencv-doc/examples/data/vtest.avi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Waits until a camsim has printed its ready line (it encodes its clip first).
wait_ready() {
  for _ in $(seq 1 600); do
    grep -q "camsim: serving" "$1" && return 0
    sleep 0.2
  done
  echo "demo: camsim did not start; see $1" >&2
  return 1
}

# Three 1080p H.264 cameras looping real footage, one 720p H.265 test pattern.
src=pattern
[ -f "$VTEST" ] && src=$VTEST
logs=$(mktemp -d)
"$VIGIL" camsim --port 8555 --cameras 3 --codec h264 --size 1920x1080 --fps 25 --bitrate 2000k \
  --source "$src" > >(tee "$logs/camsim-h264.log") 2>&1 &
pids+=($!)
"$VIGIL" camsim --port 8556 --cameras 1 --codec h265 --size 1280x720 --fps 25 --bitrate 1000k \
  --source pattern > >(tee "$logs/camsim-h265.log") 2>&1 &
pids+=($!)
wait_ready "$logs/camsim-h264.log"
wait_ready "$logs/camsim-h265.log"

cat <<MSG

  vigil demo
  ----------
  web app and API:   http://localhost:8080/   (cameras: http://localhost:8080/api/v1/cameras)
  metrics:           http://localhost:8080/metrics
  restreamed live:   rtsp://localhost:8554/lobby   (also parking, gate, street)
                     e.g.  ffplay rtsp://localhost:8554/lobby
  simulated cameras: rtsp://localhost:8555/cam1..cam3, rtsp://localhost:8556/cam1

  logging in: user "admin". On the first start vigil prints a random password
  once, just below (or takes VIGIL_ADMIN_PASSWORD from the environment:
  VIGIL_ADMIN_PASSWORD='choose one' make run). It is kept in var/vigil.db;
  to start over, stop the demo and delete var/vigil.db.
                     curl -u admin:PASSWORD http://localhost:8080/api/v1/cameras
                     ffplay rtsp://admin:PASSWORD@localhost:8554/lobby

MSG
"$VIGIL" run -c "$CONFIG" &
pids+=($!)
wait -n "${pids[@]}"
