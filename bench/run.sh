#!/usr/bin/env bash
# make bench: every benchmark, results as JSON under bench/results/.
set -euo pipefail
VIGIL=${1:-build/vigil}
mkdir -p bench/results
stamp=$(date -u +%Y%m%d-%H%M)
python3 bench/ingest.py --vigil "$VIGIL" --json "bench/results/ingest-$stamp.json" ${BENCH_INGEST_ARGS:-}
echo "results: bench/results/ingest-$stamp.json (summarise them in docs/BENCHMARKS.md)"
