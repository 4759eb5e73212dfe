#!/usr/bin/env bash
# Trains the h100 preset (vanilla and/or <sink> variant), evaluates it and packs the results into $OUT.
#
#   bash native-models/train/run_h100.sh vanilla|sink|both
#
# Needs native-models/train/data/gutenberg-v8192 (made here by `python3 data.py --preset h100`, carried to
# the GPU machine). Environment:
#   TIME_BUDGET_S  training seconds per variant; the step count is calibrated from the measured step time
#                  (default 360; capped by the preset's 3000 steps)
#   STEPS          pin the step count instead (use the first variant's calibrated count for the second)
#   EXTRA_ARGS     more train.py flags, e.g. "--compile false"
#   OUT            where results go (the device tool sets it); default native-models/train/runs/out
#
# Per variant, $OUT/<variant>/ receives the fp16 weights (model.safetensors, or <= 15 MiB shards plus their
# index) and meta.tar.gz (config.json, tokenizer files, train_log.jsonl, eval.json, sinks.json, sinks.png):
# 5-6 files, ~56 MB. The device tool returns at most 8 files / 64 MiB per call, so run ONE variant per call.
set -euo pipefail
cd "$(dirname "$0")"
variants=${1:?usage: run_h100.sh vanilla|sink|both}
[ "$variants" = both ] && variants="vanilla sink"
DATA=data/gutenberg-v8192
OUT=${OUT:-$PWD/runs/out}
RUNS=${RUNS:-/tmp/perpetua-runs}
export PYTHONUNBUFFERED=1

[ -f "$DATA/train.bin" ] || { echo "missing $DATA/train.bin: run 'python3 data.py --preset h100' and carry it" >&2; exit 1; }
python3 - <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
sha256sum "$DATA/train.bin" "$DATA/val.bin"

for v in $variants; do
  run=$RUNS/h100-$v
  if [ -n "${STEPS:-}" ]; then budget=(--steps "$STEPS"); else budget=(--time-budget-s "${TIME_BUDGET_S:-360}"); fi
  mkdir -p "$run"
  # Full log in $run/train_log.jsonl; the console shows events and validation losses only.
  # shellcheck disable=SC2086
  python3 train.py --preset h100 --variant "$v" --out "$run" --data-dir "$DATA" "${budget[@]}" ${EXTRA_ARGS:-} \
    | { grep -E '"event"|val_loss' || true; } | cut -c1-400
  python3 evaluate.py "$run" --data-dir "$DATA" --max-tokens 1000000 --batch-size 16 --json "$run/eval.json"
  python3 measure_sinks.py "$run" --data-dir "$DATA" --windows 4 --out-prefix "$run/sinks" | head -c 2000
  mkdir -p "$OUT/$v"
  cp "$run"/model*.safetensors "$OUT/$v/"
  small=(config.json tokenizer.json tokenizer_config.json generation_config.json special_tokens_map.json
         train_log.jsonl eval.json sinks.json sinks.png)
  [ -f "$run/model.safetensors.index.json" ] && small+=(model.safetensors.index.json)
  tar -czf "$OUT/$v/meta.tar.gz" -C "$run" "${small[@]}"
done
ls -la "$OUT"/*
