"""Pre-trains Perpetua's reference Llama on Gutenberg text, vanilla or with a learnable <sink> token.

    python3 train.py --preset cpu-tiny --variant vanilla --out /tmp/perpetua-runs/cpu-tiny-vanilla
    python3 train.py --preset h100 --variant sink --out runs/h100-sink --time-budget-s 360

The output folder is an HF-style Llama checkpoint (config.json, model.safetensors or shards,
tokenizer.json, tokenizer_config.json) plus train_log.jsonl (one JSON object per line) and ckpt.pt
(model + optimizer, for --resume). The sink variant prepends <sink> to every training sample (StreamingLLM
§3.3) and records "perpetua_sink_token": "<sink>" in config.json and tokenizer_config.json.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path

if "--threads" in sys.argv:  # OpenBLAS sizes its own pool at load time: tell it before torch loads it
    os.environ.setdefault("OPENBLAS_NUM_THREADS", sys.argv[sys.argv.index("--threads") + 1])
import torch  # noqa: E402

import safetensors_io
from blas_check import check_blas
import tokenizer as tok
from data import TokenStream, data_dir
from model import LlamaConfig, LlamaForCausalLM

PRESETS = {
    # ~1.3M parameters; a few minutes on 2 CPU cores.
    "cpu-tiny": dict(
        data="cpu-tiny", hidden_size=128, intermediate_size=352, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, context=256, batch_size=16, steps=300, warmup=30, lr=3e-3,
        eval_every=100, eval_batches=8, log_every=10, ckpt_every=100, bf16=False, compile=False,
        export_dtype="F32", max_shard_mb=None,
    ),
    # The built-in model (native-models/perpetua-gutenberg): ~2.4M parameters, sized from the measured ~1.7K
    # tokens/s of one OpenBLAS thread on the 2-core CPU so that --time-budget-s 4200 fits about 7M tokens.
    "cpu-default": dict(
        data="cpu-default", hidden_size=192, intermediate_size=512, num_hidden_layers=4, num_attention_heads=6,
        num_key_value_heads=2, context=512, batch_size=16, steps=3000, warmup=50, lr=3e-3,
        eval_every=100, eval_batches=4, log_every=10, ckpt_every=50, bf16=False, compile=False,
        export_dtype="F32", max_shard_mb=None,
    ),
    # ~27.8M parameters (55.6 MB in fp16: 4 shards of <= 15 MiB); 65,536 tokens per step; 3000 steps =
    # 197M tokens (~7.5 passes over the 26M-token train.bin), fewer if --time-budget-s says so.
    "h100": dict(
        data="h100", hidden_size=512, intermediate_size=1408, num_hidden_layers=8, num_attention_heads=8,
        num_key_value_heads=4, context=1024, batch_size=64, steps=3000, warmup=200, lr=1.5e-3,
        eval_every=250, eval_batches=20, log_every=25, ckpt_every=500, bf16=True, compile=True,
        export_dtype="F16", max_shard_mb=15,
    ),
}
COMMON = dict(min_lr_ratio=0.1, weight_decay=0.1, beta1=0.9, beta2=0.95, grad_clip=1.0, seed=1337)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--variant", choices=["vanilla", "sink"], required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, help="default: data/gutenberg-v<vocab> of the preset")
    ap.add_argument("--time-budget-s", type=float,
                    help="pick the step count from the measured step time so training fits this many seconds "
                         "(ignored when --steps is given)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    ap.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    for key, value in {**PRESETS["cpu-tiny"], **COMMON}.items():  # every preset value can be overridden
        if key == "data":
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            ap.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), metavar="BOOL")
        else:
            ap.add_argument(flag, type=type(value) if value is not None else float)
    args = ap.parse_args(argv)
    args.steps_given = args.steps is not None
    for key, value in {**PRESETS[args.preset], **COMMON}.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.data_dir is None:
        args.data_dir = data_dir(args.data)
    return args


def lr_at(step: int, args) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * lr at args.steps."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model, args, device):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused_ok = "fused" in inspect.signature(torch.optim.AdamW).parameters
    extra = {"fused": True} if device.type == "cuda" and fused_ok else {}
    return torch.optim.AdamW(groups, lr=args.lr, betas=(args.beta1, args.beta2), **extra)


@torch.no_grad()
def val_loss(model, batches, autocast) -> float:
    """Mean loss on fixed held-out batches (uncompiled model: no recompilation for eval mode)."""
    model.eval()
    losses = []
    for x, y in batches:
        with autocast:
            losses.append(model(x, y)[1].item())
    model.train()
    return sum(losses) / len(losses)


def export(model: LlamaForCausalLM, args, out: Path, info: dict) -> list[str]:
    """HF-style folder: config.json, safetensors, tokenizer files, generation_config.json."""
    sink = args.variant == "sink"
    config = model.config.hf_config(
        torch_dtype={"F16": "float16", "F32": "float32"}[args.export_dtype],
        perpetua_sink_token=tok.SINK if sink else None,
        perpetua_sink_token_id=tok.SPECIALS.index(tok.SINK) if sink else None,
        perpetua_training=info,
    )
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(args.data_dir / "tokenizer.json", out / "tokenizer.json")
    (out / "tokenizer_config.json").write_text(json.dumps(tok.tokenizer_config(args.context, sink), indent=2))
    (out / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps({"bos_token": tok.BOS, "eos_token": tok.EOS,
                                                             "unk_token": tok.UNK}, indent=2))
    shard = int(args.max_shard_mb * 2**20) if args.max_shard_mb else None
    return safetensors_io.save_model(out, model.hf_state_dict(), args.export_dtype, shard)


def train(args) -> dict:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    blas = None
    if device.type == "cpu":
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
        blas = check_blas()
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    meta = json.loads((args.data_dir / "meta.json").read_text())
    sink_id = tok.SPECIALS.index(tok.SINK) if args.variant == "sink" else None
    config = LlamaConfig(
        vocab_size=meta["vocab_size"], hidden_size=args.hidden_size, intermediate_size=args.intermediate_size,
        num_hidden_layers=args.num_hidden_layers, num_attention_heads=args.num_attention_heads,
        num_key_value_heads=args.num_key_value_heads, max_position_embeddings=args.context,
    )
    model = LlamaForCausalLM(config).to(device)
    optimizer = make_optimizer(model, args, device)
    step, log_mode = 0, "w"
    if args.resume and (out / "ckpt.pt").exists():
        ckpt = torch.load(out / "ckpt.pt", map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        # --steps on resume re-plans the rest of the cosine schedule (e.g. when the machine got slower)
        step, log_mode = ckpt["step"], "a"
        args.steps = args.steps if args.steps_given else ckpt["steps"]
        args.steps_given = True
    forward = torch.compile(model) if args.compile and hasattr(torch, "compile") else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if args.bf16 and device.type == "cuda" else nullcontext()

    # Same sample order for both variants (same seed); the sink variant trades one text token per row for <sink>.
    stream = TokenStream(args.data_dir / "train.bin", args.context, args.batch_size, sink_id, seed=args.seed + step)
    val_stream = TokenStream(args.data_dir / "val.bin", args.context, args.batch_size, sink_id, seed=12345)
    val_batches = [tuple(t.to(device) for t in val_stream.batch()) for _ in range(args.eval_batches)]

    n_params = model.num_params()
    header = {"event": "start", "preset": args.preset, "variant": args.variant, "params": n_params,
              "device": str(device), "torch": torch.__version__, "blas": blas, "config": config.hf_config(),
              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    log = open(out / "train_log.jsonl", log_mode)

    def emit(record: dict) -> None:
        log.write(json.dumps(record) + "\n")
        log.flush()
        print(json.dumps(record), flush=True)

    emit(header)
    t0 = time.time()
    timed_from = None
    tokens_per_step = args.batch_size * args.context
    model.train()
    while step < args.steps:
        lr = lr_at(step, args)
        for g in optimizer.param_groups:
            g["lr"] = lr
        x, y = (t.to(device, non_blocking=True) for t in stream.batch())
        with autocast:
            _, loss, _ = forward(x, y)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        if step == 10:  # skip compile / warm-up steps when timing
            if device.type == "cuda":
                torch.cuda.synchronize()
            timed_from = (step, time.time())
        if step == 40 and args.time_budget_s and not args.steps_given:
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_step = (time.time() - timed_from[1]) / (step - timed_from[0])
            eval_share = 1 + (args.eval_batches / 3) / args.eval_every  # evals cost ~1/3 of a step per batch
            fit = int((args.time_budget_s - (time.time() - t0)) / (per_step * eval_share)) + step
            args.steps = max(step + 1, min(args.steps, fit))
            emit({"event": "calibrated", "step": step, "seconds_per_step": round(per_step, 4), "steps": args.steps})
        if step % args.log_every == 0 or step == args.steps:
            elapsed = time.time() - t0
            emit({"step": step, "loss": round(loss.item(), 4), "lr": round(lr, 6), "grad_norm": round(float(grad_norm), 4),
                  "tokens": step * tokens_per_step, "elapsed_s": round(elapsed, 1)})
        if step % args.eval_every == 0 or step == args.steps:
            emit({"step": step, "val_loss": round(val_loss(model, val_batches, autocast), 4),
                  "elapsed_s": round(time.time() - t0, 1)})
        if step % args.ckpt_every == 0 or step == args.steps:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                        "steps": args.steps}, out / "ckpt.pt")

    elapsed = time.time() - t0
    final_val = val_loss(model, val_batches, autocast)
    info = {"preset": args.preset, "variant": args.variant, "steps": step, "tokens": step * tokens_per_step,
            "context": args.context, "batch_size": args.batch_size, "params": n_params,
            "train_seconds": round(elapsed, 1), "final_val_loss": round(final_val, 4),
            "data_sha256": meta["train"]["sha256"]}
    files = export(model, args, out, info)
    emit({"event": "done", **info, "files": files})
    log.close()
    return info


if __name__ == "__main__":
    train(parse_args())
    sys.exit(0)
