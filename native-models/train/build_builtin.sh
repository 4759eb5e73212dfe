#!/usr/bin/env bash
# Turns a finished cpu-default sink run into the built-in model, native-models/perpetua-gutenberg/, and writes
# the numbers its model card (README.md there) quotes into card/:
#
#   bash native-models/train/build_builtin.sh RUN_DIR [DATA_DIR]
#
# hf/: the trained checkpoint in fp16 safetensors (convertible again: --dtype q4, --layout fused, GGUF);
# onnx/model.onnx: that checkpoint through the project's converter, fp16 weights, reference graph (attention
# probabilities can be exposed for the sink inspector). card/: validation perplexity, attention share on
# position 0 (JSON + heatmap), loss curve, streaming perplexity on PG-19 book 10146 (dense/window/recompute and
# sink with S = 0, 1, 4; S = 0 evicts <sink>).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUN=$(cd "$1" && pwd)
DATA=${2:-$HERE/data/gutenberg-v4096-16m}
PY=${PYTHON:-/usr/bin/python3}
OUT=$ROOT/native-models/perpetua-gutenberg
BOOK=$ROOT/../shared/corpora/pg19-test-10146-reminiscences-of-pioneer-days-in-st-paul.txt
TOKENS=${TOKENS:-4096}
WINDOW=${WINDOW:-256}
VAL_TOKENS=${VAL_TOKENS:-400000}
REPETITION_PENALTY=${REPETITION_PENALTY:-1.3}
cli() { node "$ROOT/bin/perpetua.js" "$@"; }

rm -rf "$OUT/hf" "$OUT/onnx" "$OUT/card" && mkdir -p "$OUT/hf" "$OUT/card"
# fp16 checkpoint: the run exports float32; halve it with the pipeline's own safetensors writer.
(cd "$HERE" && $PY - "$RUN" "$OUT/hf" "$REPETITION_PENALTY" <<'PYEOF'
import json, shutil, sys
from pathlib import Path
import safetensors_io
run, out = Path(sys.argv[1]), Path(sys.argv[2])
tensors = safetensors_io.load_model(run)
safetensors_io.save_model(out, tensors, "F16", None)
config = json.loads((run / "config.json").read_text())
config["torch_dtype"] = "float16"
(out / "config.json").write_text(json.dumps(config, indent=2))
for f in ("tokenizer_config.json", "special_tokens_map.json"):
    shutil.copyfile(run / f, out / f)
# The encoder's own chunking as a pre-tokenizer: the same ids (checked on whole books), 4x faster in JS.
tokenizer = json.loads((run / "tokenizer.json").read_text())
tokenizer["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": "\n|▁[^▁\n]*|[^▁\n]+"},
                              "behavior": "Isolated", "invert": False}
(out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
# Greedy decoding of a model this small loops on a phrase; its recommended sampling keeps greedy (deterministic)
# with a repetition penalty, which Perpetua applies wherever the user has not chosen one.
gen = json.loads((run / "generation_config.json").read_text())
gen.update(do_sample=False, repetition_penalty=float(sys.argv[3]))
(out / "generation_config.json").write_text(json.dumps(gen, indent=2))
PYEOF
)
tmp=$(mktemp -d)
cli models convert "$OUT/hf" "$tmp/model" --dtype fp16 --layout reference
mv "$tmp/model/onnx" "$OUT/onnx"
cp "$tmp/model/config.json" "$OUT/config.json"
for f in tokenizer.json tokenizer_config.json generation_config.json special_tokens_map.json; do cp "$OUT/hf/$f" "$OUT/$f"; done
rm -rf "$tmp"
cli models check "$OUT" | tee "$OUT/card/models-check.txt"

cp "$RUN/train_log.jsonl" "$OUT/card/train_log.jsonl"
(cd "$HERE" && $PY plot_loss.py "$OUT/card/train_log.jsonl" "$OUT/card/loss.png" "perpetua-gutenberg (<sink> variant)")
(cd "$HERE" && $PY evaluate.py "$OUT/hf" --data-dir "$DATA" --max-tokens "$VAL_TOKENS" --json "$OUT/card/val-ppl.json")
(cd "$HERE" && $PY measure_sinks.py "$OUT/hf" --data-dir "$DATA" --windows 8 --out-prefix "$OUT/card/sinks" \
  --title "perpetua-gutenberg, 8 held-out windows of 512")
for s in 0 1 4; do
  policies=sink; [ "$s" = 0 ] && policies=dense,window,recompute,sink
  cli eval ppl --model "$OUT" --text "$BOOK" --policies "$policies" --window "$WINDOW" --sink "$s" --tokens "$TOKENS" \
    --quiet --json "$OUT/card/stream-ppl-S$s.json" | tee "$OUT/card/stream-ppl-S$s.md"
done
du -sh "$OUT"
