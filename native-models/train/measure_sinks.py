"""Attention sinks (StreamingLLM Figure 2): how much attention each layer and head puts on the first token.

    python3 measure_sinks.py MODEL_DIR --data-dir data/gutenberg-v8192 --out-prefix runs/sinks-vanilla

Reads a few windows of held-out text (val.bin) of the model's full context (the sink model gets <sink> at
position 0, the vanilla model a text token), and for every layer and head averages the attention weight that
queries at positions 1..T-1 give to key position 0 (and, for reference, to keys 0..3). A uniform causal
attention would give mean(1/(q+1)) over the same queries: that number is reported as the baseline.
Writes PREFIX.json (numbers) and PREFIX.png (layer x head heatmap).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from evaluate import load_model


@torch.no_grad()
def first_token_attention(model, hf: dict, tokens: np.ndarray, windows: int = 4, device="cpu") -> dict:
    context = hf["max_position_embeddings"]
    sink_id = hf.get("perpetua_sink_token_id")
    width = context - 1 if sink_id is not None else context
    usable = len(tokens) // width
    if usable < 1:
        raise ValueError("not enough held-out tokens for one window")
    picks = np.linspace(0, usable - 1, num=min(windows, usable)).astype(int)
    x = torch.from_numpy(np.stack([tokens[i * width: (i + 1) * width].astype(np.int64) for i in picks])).to(device)
    if sink_id is not None:
        x = torch.cat([torch.full((x.size(0), 1), sink_id, dtype=x.dtype, device=device), x], dim=1)
    _, _, attn = model(x, need_weights=True)
    T = x.size(1)
    first, first4 = [], []
    for probs in attn:  # [B, H, T, T]
        q = probs[:, :, 1:, :].float()  # queries 1..T-1
        first.append(q[..., 0].mean(dim=(0, 2)).cpu().numpy())
        first4.append(q[:, :, 3:, :4].sum(-1).mean(dim=(0, 2)).cpu().numpy())
    first = np.stack(first)  # [layers, heads]
    first4 = np.stack(first4)
    uniform = float(np.mean(1.0 / (np.arange(1, T) + 1)))
    return {
        "first_token": "<sink>" if sink_id is not None else "first text token of the window",
        "windows": int(len(picks)), "queries_per_window": T - 1, "positions_averaged": int(len(picks) * (T - 1)),
        "uniform_baseline": round(uniform, 5),
        "mean_share_first_token": round(float(first.mean()), 5),
        "per_layer_share_first_token": [round(float(v), 5) for v in first.mean(1)],
        "per_layer_head_share_first_token": [[round(float(v), 5) for v in row] for row in first],
        "mean_share_first_4_tokens": round(float(first4.mean()), 5),
        "per_layer_share_first_4_tokens": [round(float(v), 5) for v in first4.mean(1)],
    }


def heatmap(result: dict, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.array(result["per_layer_head_share_first_token"])
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * grid.shape[1], 1.2 + 0.5 * grid.shape[0]))
    # Small models put little attention anywhere: scale to what is there (at least 4x uniform) so shares show.
    vmax = max(float(grid.max()), 4 * result["uniform_baseline"])
    im = ax.imshow(grid, vmin=0, vmax=vmax, cmap="viridis", aspect="auto")
    for (l, h), v in np.ndenumerate(grid):
        ax.text(h, l, f"{v:.2f}" if vmax > 0.2 else f"{v:.3f}", ha="center", va="center", fontsize=7,
                color="white" if v < 0.6 * vmax else "black")
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(grid.shape[1]))
    ax.set_yticks(range(grid.shape[0]))
    ax.set_title(f"{title}\nshare of attention on position 0 (uniform: {result['uniform_baseline']:.3f})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--windows", type=int, default=4, help="held-out windows of full context length")
    ap.add_argument("--out-prefix", type=Path, required=True)
    ap.add_argument("--title", help="heatmap title (default: the model folder's name)")
    args = ap.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, hf = load_model(args.model_dir, device)
    tokens = np.asarray(np.memmap(args.data_dir / "val.bin", dtype=np.uint16, mode="r"))
    result = {"model": str(args.model_dir), **first_token_attention(model, hf, tokens, args.windows, device)}
    args.out_prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out_prefix}.json").write_text(json.dumps(result, indent=2))
    heatmap(result, args.title or args.model_dir.name, Path(f"{args.out_prefix}.png"))
    print(json.dumps({k: v for k, v in result.items() if k != "per_layer_head_share_first_token"}, indent=2))


if __name__ == "__main__":
    main()
