#!/usr/bin/env bash
# make bench: every benchmark, one after the other (never while building).
# Ingest results go to bench/results/ as JSON; the inference benchmark
# prints a Markdown table. Summarise both in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL=${1:-build/vigil}
mkdir -p bench/results
stamp=$(date -u +%Y%m%d-%H%M)
python3 bench/ingest.py --vigil "$VIGIL" --json "bench/results/ingest-$stamp.json" ${BENCH_INGEST_ARGS:-}
echo "ingest results: bench/results/ingest-$stamp.json"
bash bench/infer.sh "$VIGIL" ${BENCH_INFER_RUNS:-15}
