"""Gutenberg corpus -> tokenizer + compact token streams (uint16 .bin, memory-mapped) -> training batches.

    python3 data.py --preset h100        # writes data/gutenberg-v8192/{tokenizer.json, train.bin, val.bin, meta.json}
    python3 data.py --preset cpu-tiny    # writes data/gutenberg-v4096/...

Each book becomes <s> + text + </s> in the stream. Validation = whole books held out of training
(every 40th book of ../shared/corpora/gutenberg-train by id). The PG-19 test books and the app's other
evaluation texts listed in ../shared/corpora/SOURCE.md are refused outright, by file name and by the
"[EBook #N]" line of the header.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

import tokenizer as tok

HERE = Path(__file__).resolve().parent
CORPORA = HERE.parents[2] / "shared" / "corpora"  # /work/shared/corpora beside the checkout
CORPUS = CORPORA / "gutenberg-train"
SOURCE_MD = CORPORA / "SOURCE.md"

DATA_PRESETS = {
    # vocab, tokenizer training sample (chars), token caps: the h100 train.bin must stay well under the
    # device tool's 64 MiB working-tree limit (2 bytes per token).
    "cpu-tiny": dict(vocab_size=4096, tokenizer_chars=12_000_000, max_train_tokens=6_000_000, max_val_tokens=400_000),
    # The built-in model, trained on the 2-core CPU (~75 minutes): a 4096-token vocabulary keeps the embedding
    # small, 16M training tokens cover more than one pass at the CPU's ~3K tokens/s.
    "cpu-default": dict(vocab_size=4096, tokenizer_chars=12_000_000, max_train_tokens=16_000_000, max_val_tokens=400_000,
                        dir_name="gutenberg-v4096-16m"),
    "h100": dict(vocab_size=8192, tokenizer_chars=40_000_000, max_train_tokens=26_000_000, max_val_tokens=1_000_000),
}


def data_dir(preset: str) -> Path:
    """data/gutenberg-v<vocab> beside this file, or the preset's own folder name."""
    p = DATA_PRESETS[preset]
    return HERE / "data" / p.get("dir_name", f"gutenberg-v{p['vocab_size']}")


VAL_EVERY = 40  # every 40th book (sorted by id), offset 20, is validation

START_RE = re.compile(r"^\*\*\* ?START OF.*$", re.MULTILINE)
END_RE = re.compile(r"^(\*\*\* ?END OF|End of (the )?Project Gutenberg).*$", re.MULTILINE | re.IGNORECASE)
EBOOK_RE = re.compile(r"\[E[Bb]ook #(\d+)\]")


class HeldOutBookError(RuntimeError):
    pass


def held_out_ids(source_md: Path = SOURCE_MD) -> set[int]:
    """Gutenberg ids of the evaluation books listed in SOURCE.md (pg19-test-<id>-…, gutenberg-<id>-…, <id>.txt)."""
    text = source_md.read_text(encoding="utf-8")
    ids = {int(m) for m in re.findall(r"pg19-test-(\d+)", text)}
    ids |= {int(m) for m in re.findall(r"gutenberg-(\d+)", text)}
    ids |= {int(m) for m in re.findall(r"\b(\d{4,6})\.txt\b", text)}
    if not ids:
        raise RuntimeError(f"{source_md} lists no held-out books; refusing to guess")
    return ids


def read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_gutenberg(text: str) -> str:
    """The text strictly between the '*** START OF' line and the first END marker after it."""
    start = START_RE.search(text)
    if not start:
        raise ValueError("no '*** START OF' line")
    end = END_RE.search(text, start.end())
    body = text[start.end(): end.start() if end else len(text)]
    return body.strip("\n") + "\n"


def load_book(path: Path, refused: set[int]) -> str:
    """Stripped text of one book; raises HeldOutBookError for a held-out evaluation book."""
    text = read_text(path)
    file_id = int(path.stem) if path.stem.isdigit() else None
    header = EBOOK_RE.search(text[:5000])
    header_id = int(header.group(1)) if header else None
    for gid in (file_id, header_id):
        if gid is not None and gid in refused:
            raise HeldOutBookError(f"{path} is Gutenberg #{gid}, a held-out evaluation book: never train on it")
    return strip_gutenberg(text)


def split_books(corpus: Path = CORPUS) -> tuple[list[Path], list[Path]]:
    books = sorted((p for p in corpus.glob("*.txt")), key=lambda p: int(p.stem))
    val = [p for i, p in enumerate(books) if i % VAL_EVERY == VAL_EVERY // 2]
    if not val and len(books) > 1:
        val = books[-1:]  # a corpus smaller than VAL_EVERY books still keeps one book out for validation
    train = [p for p in books if p not in val]
    return train, val


def write_stream(paths: list[Path], bpe: tok.BpeTokenizer, out: Path, max_tokens: int, refused: set[int]) -> dict:
    bos, eos = bpe.token_id(tok.BOS), bpe.token_id(tok.EOS)
    used, total = [], 0
    with open(out, "wb") as f:
        for p in paths:
            if total >= max_tokens:
                break
            ids = [bos] + bpe.encode(load_book(p, refused)) + [eos]
            ids = ids[: max_tokens - total]
            np.asarray(ids, dtype=np.uint16).tofile(f)
            total += len(ids)
            used.append(int(p.stem))
    return {"file": out.name, "tokens": total, "books": used, "sha256": sha256(out)}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepare(out_dir: Path, vocab_size: int, tokenizer_chars: int, max_train_tokens: int, max_val_tokens: int,
            corpus: Path = CORPUS, source_md: Path = SOURCE_MD, max_books: int | None = None) -> dict:
    t0 = time.time()
    refused = held_out_ids(source_md)
    train, val = split_books(corpus)
    if max_books:
        train, val = train[:max_books], val[: max(1, max_books // 10)]
    out_dir.mkdir(parents=True, exist_ok=True)
    # The tokenizer learns from training books only, spread over the whole id range.
    sample, chars = [], 0
    stride = max(1, len(train) * 350_000 // max(tokenizer_chars, 1))
    for p in train[::stride]:
        if chars >= tokenizer_chars:
            break
        sample.append(load_book(p, refused))
        chars += len(sample[-1])
    vocab, merges = tok.train_bpe(sample, vocab_size)
    bpe = tok.BpeTokenizer(vocab, merges)
    bpe.save(out_dir)
    t1 = time.time()
    meta = {
        "corpus": str(corpus),
        "vocab_size": bpe.vocab_size,
        "dtype": "uint16",
        "refused_ids": sorted(refused),
        "tokenizer_sample_chars": chars,
        "tokenizer_seconds": round(t1 - t0, 1),
        "train": write_stream(train, bpe, out_dir / "train.bin", max_train_tokens, refused),
        "val": write_stream(val, bpe, out_dir / "val.bin", max_val_tokens, refused),
        "seconds": round(time.time() - t0, 1),
    }
    overlap = set(meta["train"]["books"]) & set(meta["val"]["books"])
    assert not overlap, f"books in both train and val: {overlap}"
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


# ----------------------------------------------------------------------------------------------- batches

class TokenStream:
    """Random training windows from a memory-mapped uint16 token file.

    Vanilla: rows are context+1 consecutive tokens, x = row[:-1], y = row[1:].
    Sink:    rows are <sink> + context consecutive tokens, so x[:, 0] is always the sink id (paper, §3.3).
    """

    def __init__(self, path: Path, context: int, batch_size: int, sink_id: int | None = None, seed: int = 0):
        self.tokens = np.memmap(path, dtype=np.uint16, mode="r")
        self.context, self.batch_size, self.sink_id = context, batch_size, sink_id
        self.rng = np.random.default_rng(seed)
        span = context if sink_id is not None else context + 1
        if len(self.tokens) <= span:
            raise ValueError(f"{path} has {len(self.tokens)} tokens, fewer than one window of {span}")
        self.span = span

    def batch(self):
        import torch

        starts = self.rng.integers(0, len(self.tokens) - self.span, size=self.batch_size)
        rows = np.stack([self.tokens[s: s + self.span].astype(np.int64) for s in starts])
        if self.sink_id is not None:
            rows = np.concatenate([np.full((self.batch_size, 1), self.sink_id, dtype=np.int64), rows], axis=1)
        rows = torch.from_numpy(rows)
        return rows[:, :-1], rows[:, 1:]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(DATA_PRESETS), required=True)
    ap.add_argument("--out", type=Path, help="default: data/gutenberg-v<vocab> beside this file")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--source-md", type=Path, default=SOURCE_MD)
    args = ap.parse_args(argv)
    p = {k: v for k, v in DATA_PRESETS[args.preset].items() if k != "dir_name"}
    out = args.out or data_dir(args.preset)
    meta = prepare(out, corpus=args.corpus, source_md=args.source_md, **p)
    print(json.dumps({k: v for k, v in meta.items() if k not in ("train", "val")}
                     | {s: {k: meta[s][k] for k in ("tokens", "sha256")} | {"books": len(meta[s]["books"])}
                        for s in ("train", "val")}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
