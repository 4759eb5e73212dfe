#!/usr/bin/env bash
# The whole pipeline at cpu-tiny size, on CPU: data, both variants, evaluation, sink measurement.
#
#   bash native-models/train/run_cpu_tiny.sh [WORK_DIR]     # default /tmp/perpetua-train
#
# THREADS (default 1: on a shared 2-core machine two OpenMP threads ran ~3x slower than one).
set -euo pipefail
cd "$(dirname "$0")"
WORK=${1:-/tmp/perpetua-train}
DATA=$WORK/data/gutenberg-v4096
PY=${PYTHON:-python3}
[ -f "$DATA/train.bin" ] || $PY data.py --preset cpu-tiny --out "$DATA"
for v in vanilla sink; do
  run=$WORK/cpu-tiny-$v
  $PY train.py --preset cpu-tiny --variant "$v" --out "$run" --data-dir "$DATA" --threads "${THREADS:-1}" \
    | { grep -E '"event"|val_loss' || true; } | cut -c1-300
  $PY evaluate.py "$run" --data-dir "$DATA" --max-tokens 400000 --json "$run/eval.json"
  $PY measure_sinks.py "$run" --data-dir "$DATA" --windows 4 --out-prefix "$run/sinks"
done
