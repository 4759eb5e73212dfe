"""Loss curve of a training run: train loss (every log step) and validation loss against tokens seen.

    python3 plot_loss.py RUN_DIR/train_log.jsonl OUT.png [TITLE]
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def main(log: Path, out: Path, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    tokens_per_step = next(r["tokens"] / r["step"] for r in rows if "tokens" in r and r.get("step"))
    train = [(r["tokens"] / 1e6, r["loss"]) for r in rows if "loss" in r]
    val = [(r["step"] * tokens_per_step / 1e6, r["val_loss"]) for r in rows if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(*zip(*train), lw=1, label="train loss")
    if val:
        ax.plot(*zip(*val), "o-", lw=1.5, label="validation loss (held-out books)")
        last = val[-1][1]
        ax.annotate(f"{last:.3f} (ppl {math.exp(last):.1f})", val[-1], textcoords="offset points", xytext=(-90, 12))
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title or log.parent.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
