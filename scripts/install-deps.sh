#!/usr/bin/env bash
# Installs the Debian packages vigil needs to build, test and run.
# Idempotent: it asks apt-get only for what is missing, so a second run is quick.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libuv1-dev libwebsockets-dev libjansson-dev libsqlite3-dev libssl-dev
  libcmocka-dev python3 python3-pytest
  ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  opencv-doc
  libonnx-testdata
  libargon2-dev libsodium-dev libsrt-openssl-dev srt-tools libcurl4-openssl-dev
  liburing-dev
  libmosquitto-dev mosquitto mosquitto-clients nginx-light libnginx-mod-rtmp chromium
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm run the TensorFlow.js reference in the inference tests.
# A machine may already have them from elsewhere than Debian (whose npm
# package would conflict with such a Node.js), so the commands are checked.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
