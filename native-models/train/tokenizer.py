"""Byte-fallback BPE tokenizer in the Llama / SentencePiece style, trained and applied in plain Python.

The tokenizer.json it writes is the layout native-models/tiny-tokenizer.ts produces and the app loads with
@huggingface/tokenizers: normalizer Prepend("▁") + Replace(" " -> "▁"), no pre-tokenizer, a BPE model with
byte_fallback, and the decoder Replace("▁" -> " ") / ByteFallback / Fuse / Strip(1 leading space).

Vocabulary: <unk>, <s>, </s>, <sink> (ids 0-3), the 256 byte tokens <0x00>..<0xFF>, the characters that
cover almost all of the training text, then one token per learned merge.

Why chunking is exact: "▁" and "\n" only ever start a training chunk, so no token holds them anywhere but
at its start, and no merge has a right-hand side starting with them. A whole-string BPE (what the Rust and
JS libraries run, since there is no pre-tokenizer) therefore never merges across a chunk boundary, and
encoding chunk by chunk gives the same ids while allowing a per-chunk cache.
"""
from __future__ import annotations

import heapq
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

UNK, BOS, EOS, SINK = "<unk>", "<s>", "</s>", "<sink>"
SPECIALS = [UNK, BOS, EOS, SINK]
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
SPACE = "\u2581"  # ▁
CHUNK_RE = re.compile(r"\n|\u2581[^\u2581\n]*|[^\u2581\n]+")
SPECIAL_RE = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")


def normalize(text: str) -> str:
    """Prepend("▁") then Replace(" " -> "▁"); an empty string stays empty (as in the Rust normalizer)."""
    return SPACE + text.replace(" ", SPACE) if text else ""


def chunks(normalized: str) -> list[str]:
    return CHUNK_RE.findall(normalized)


# ----------------------------------------------------------------------------------------------- training

def train_bpe(texts, vocab_size: int, char_coverage: float = 0.9999) -> tuple[list[str], list[tuple[str, str]]]:
    """Learns merges until the vocabulary has `vocab_size` entries. Returns (vocab in id order, merges).

    Classic BPE over chunk counts with incremental pair-count updates; ties go to the smaller pair
    (string order), so training is deterministic.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(chunks(normalize(text)))
    char_counts: Counter[str] = Counter()
    for chunk, n in counts.items():
        for ch in chunk:
            char_counts[ch] += n
    total = sum(char_counts.values())
    chars, covered = [], 0
    for ch, n in sorted(char_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if covered >= char_coverage * total and ch != SPACE:
            continue
        chars.append(ch)
        covered += n
    if SPACE not in chars:
        chars.append(SPACE)
    vocab = SPECIALS + BYTE_TOKENS + chars
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is smaller than the {len(vocab)} base tokens")
    known = set(vocab)
    alphabet = set(chars)

    # Characters outside the alphabet become byte tokens when encoding and never merge: split words there.
    words: list[list[str]] = []
    freqs: list[int] = []
    for chunk, n in counts.items():
        piece: list[str] = []
        for ch in chunk + "\0":
            if ch in alphabet:
                piece.append(ch)
            else:
                if len(piece) > 1:
                    words.append(piece)
                    freqs.append(n)
                piece = []

    pair_counts: defaultdict[tuple[str, str], int] = defaultdict(int)
    where: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            pair_counts[p] += freqs[i]
            where[p].add(i)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[str, str]] = []
    blocked: set[tuple[str, str]] = set()
    while len(vocab) < vocab_size and heap:
        negc, pair = heapq.heappop(heap)
        if pair in blocked or pair_counts.get(pair, 0) != -negc or negc == 0:
            continue  # stale heap entry
        a, b = pair
        merged = a + b
        if merged in known:  # e.g. "<s" + ">" would collide with a special token's string
            blocked.add(pair)
            continue
        merges.append(pair)
        vocab.append(merged)
        known.add(merged)
        changed: set[tuple[str, str]] = set()
        for i in where.pop(pair, ()):
            w, n = words[i], freqs[i]
            new, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    new.append(merged)
                    j += 2
                else:
                    new.append(w[j])
                    j += 1
            if len(new) == len(w):
                continue
            for p in zip(w, w[1:]):
                pair_counts[p] -= n
                changed.add(p)
            for p in zip(new, new[1:]):
                pair_counts[p] += n
                where[p].add(i)
                changed.add(p)
            words[i] = new
        pair_counts.pop(pair, None)
        for p in changed:
            c = pair_counts.get(p, 0)
            if c > 0 and p != pair:
                heapq.heappush(heap, (-c, p))
            elif c <= 0:
                pair_counts.pop(p, None)
    # A tiny corpus can run out of pairs: pad so the embedding size is what was asked for.
    while len(vocab) < vocab_size:
        vocab.append(f"<unused_{len(vocab)}>")
    return vocab, merges


# ----------------------------------------------------------------------------------------------- applying

class BpeTokenizer:
    def __init__(self, vocab: list[str], merges: list[tuple[str, str]]):
        self.vocab = vocab
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.merges = [tuple(m) for m in merges]
        self.byte_ids = [self.ids[t] for t in BYTE_TOKENS]
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def token_id(self, token: str) -> int:
        return self.ids[token]

    def _encode_chunk(self, chunk: str) -> list[int]:
        hit = self._cache.get(chunk)
        if hit is not None:
            return hit
        symbols = list(chunk)
        ranks = self.ranks
        while len(symbols) > 1:
            best, best_rank = -1, None
            for i in range(len(symbols) - 1):
                r = ranks.get((symbols[i], symbols[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best < 0:
                break
            a, b = self.merges[best_rank]
            out, i = [], 0
            while i < len(symbols):  # merge every occurrence of this pair, left to right
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            symbols = out
        ids: list[int] = []
        for s in symbols:
            i = self.ids.get(s)
            if i is not None:
                ids.append(i)
            else:
                ids.extend(self.byte_ids[b] for b in s.encode("utf-8"))
        if len(self._cache) < 2_000_000:
            self._cache[chunk] = ids
        return ids

    def encode(self, text: str, add_bos: bool = False) -> list[int]:
        """Like the JS/Rust library: special-token strings are cut out first, each other piece normalized."""
        ids = [self.ids[BOS]] if add_bos else []
        for k, piece in enumerate(SPECIAL_RE.split(text)):
            if k % 2 == 1:
                ids.append(self.ids[piece])
                continue
            for chunk in chunks(normalize(piece)):
                ids.extend(self._encode_chunk(chunk))
        return ids

    def decode(self, ids: list[int], skip_special: bool = True) -> str:
        out = bytearray()
        for i in ids:
            t = self.vocab[i]
            if t in SPECIALS:
                if not skip_special:
                    out += t.encode("utf-8")
            elif len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                out.append(int(t[3:5], 16))
            else:
                out += t.replace(SPACE, " ").encode("utf-8")
        text = out.decode("utf-8", errors="replace")
        return text[1:] if text.startswith(" ") else text

    # ------------------------------------------------------------------------------------------- files

    def tokenizer_json(self) -> dict:
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                 "normalized": False, "special": True}
                for i, t in enumerate(SPECIALS)
            ],
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": SPACE},
                {"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
            ]},
            "pre_tokenizer": None,
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": BOS, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {BOS: {"id": BOS, "ids": [self.ids[BOS]], "tokens": [BOS]}},
            },
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0},
            ]},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": UNK, "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                "vocab": {t: i for i, t in enumerate(self.vocab)},
                "merges": [[a, b] for a, b in self.merges],
            },
        }

    def save(self, folder: Path, model_max_length: int = 1_000_000, sink: bool = False) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tokenizer.json").write_text(json.dumps(self.tokenizer_json(), ensure_ascii=False))
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(model_max_length, sink), indent=2))


def tokenizer_config(model_max_length: int, sink: bool) -> dict:
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": UNK,
        "pad_token": None,
        "legacy": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
        "tokenizer_class": "LlamaTokenizer",
        "added_tokens_decoder": {
            str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True}
            for i, t in enumerate(SPECIALS)
        },
    }
    if sink:
        # Trained with <sink> at position 0 of every sample: the app should put it first in every stream
        # and keep its KV as the (single) attention sink.
        config["perpetua_sink_token"] = SINK
        config["perpetua_sink_token_id"] = SPECIALS.index(SINK)
    return config


def load(folder: Path) -> BpeTokenizer:
    data = json.loads((Path(folder) / "tokenizer.json").read_text())
    vocab_map = data["model"]["vocab"]
    vocab = [None] * len(vocab_map)
    for t, i in vocab_map.items():
        vocab[i] = t
    return BpeTokenizer(vocab, [tuple(m) for m in data["model"]["merges"]])
