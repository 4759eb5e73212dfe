"""Validation perplexity of an exported model on held-out Gutenberg books (val.bin, never trained on).

    python3 evaluate.py MODEL_DIR --data-dir data/gutenberg-v8192 [--max-tokens 200000] [--json out.json]

Both variants predict exactly the same target tokens from the same text: the held-out stream is cut into
non-overlapping windows of context-1 text tokens; the vanilla model reads the window, the sink model reads
<sink> + window, and the loss counts the window's tokens 2..end (the first text token has no text before it).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

import safetensors_io
from model import LlamaConfig, LlamaForCausalLM


def load_model(folder: Path, device="cpu") -> tuple[LlamaForCausalLM, dict]:
    hf = json.loads((Path(folder) / "config.json").read_text())
    model = LlamaForCausalLM(LlamaConfig.from_hf(hf))
    tensors = {k: torch.from_numpy(v.copy()) for k, v in safetensors_io.load_model(folder).items()}
    model.load_hf_state_dict(tensors)
    return model.to(device).eval(), hf


@torch.no_grad()
def perplexity(model, hf: dict, tokens: np.ndarray, batch_size: int = 8, device="cpu") -> dict:
    context = hf["max_position_embeddings"]
    sink_id = hf.get("perpetua_sink_token_id")
    width = context - 1
    n_windows = len(tokens) // width
    windows = torch.from_numpy(tokens[: n_windows * width].astype(np.int64)).view(n_windows, width)
    total_nll, total_count = 0.0, 0
    for i in range(0, n_windows, batch_size):
        x = windows[i: i + batch_size].to(device)
        if sink_id is not None:
            x = torch.cat([torch.full((x.size(0), 1), sink_id, dtype=x.dtype, device=device), x], dim=1)
        logits = model(x)[0].float()
        skip = 1 if sink_id is not None else 0  # logits at the sink predict the first text token: not counted
        pred = logits[:, skip:-1]
        target = x[:, skip + 1:]
        nll = torch.nn.functional.cross_entropy(pred.reshape(-1, pred.size(-1)), target.reshape(-1), reduction="sum")
        total_nll += nll.item()
        total_count += target.numel()
    loss = total_nll / total_count
    return {"val_loss": round(loss, 5), "val_ppl": round(math.exp(loss), 3), "tokens_scored": total_count,
            "windows": n_windows, "window_text_tokens": width, "sink_token": hf.get("perpetua_sink_token")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--max-tokens", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, hf = load_model(args.model_dir, device)
    tokens = np.memmap(args.data_dir / "val.bin", dtype=np.uint16, mode="r")[: args.max_tokens]
    result = {"model": str(args.model_dir), **perplexity(model, hf, np.asarray(tokens), args.batch_size, device)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
