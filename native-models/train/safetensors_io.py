"""The safetensors format, written and read by hand: 8-byte little-endian header length, a JSON header
{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}} padded with spaces to a multiple of
8 bytes, then the raw little-endian tensor bytes (offsets relative to the end of the header).

Large models can be split into HF-style shards (model-00001-of-0000N.safetensors + model.safetensors.index.json)
so that every file stays under a size limit; native-models/convert-hf.ts reads all *.safetensors in a folder.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

NP_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}


def _as_numpy(t, dtype: str) -> np.ndarray:
    if hasattr(t, "detach"):  # torch tensor
        t = t.detach().float().cpu().numpy()
    return np.ascontiguousarray(np.asarray(t, dtype=np.float32).astype(NP_DTYPES[dtype]))


def save(path: Path, tensors: dict, dtype: str = "F32", metadata: dict | None = None) -> int:
    """Writes one .safetensors file; returns its size in bytes."""
    if dtype not in NP_DTYPES:
        raise ValueError(f"dtype {dtype}: write F32 or F16")
    arrays = {name: _as_numpy(t, dtype) for name, t in sorted(tensors.items())}
    header: dict = {"__metadata__": {"format": "pt", **(metadata or {})}}
    offset = 0
    for name, a in arrays.items():
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for a in arrays.values():
            f.write(a.tobytes())
    return 8 + len(raw) + offset


def save_model(folder: Path, tensors: dict, dtype: str, max_shard_bytes: int | None = None) -> list[str]:
    """model.safetensors, or shards of at most max_shard_bytes each (one tensor never splits)."""
    folder = Path(folder)
    for old in list(folder.glob("model*.safetensors")) + list(folder.glob("model.safetensors.index.json")):
        old.unlink()
    itemsize = NP_DTYPES[dtype].itemsize
    sizes = {name: int(np.prod(t.shape)) * itemsize for name, t in tensors.items()}
    if max_shard_bytes is None or sum(sizes.values()) + 65536 <= max_shard_bytes:
        save(folder / "model.safetensors", tensors, dtype)
        return ["model.safetensors"]
    groups: list[list[str]] = [[]]
    used = 0
    for name in sorted(tensors):
        if groups[-1] and used + sizes[name] + 65536 > max_shard_bytes:
            groups.append([])
            used = 0
        groups[-1].append(name)
        used += sizes[name]
    files, weight_map = [], {}
    for i, names in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        save(folder / fname, {n: tensors[n] for n in names}, dtype)
        files.append(fname)
        weight_map.update({n: fname for n in names})
    index = {"metadata": {"total_size": sum(sizes.values())}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return files


def load(path: Path) -> dict:
    """name -> float32 numpy array (F32, F16 and BF16 are read)."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8: 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = data[base + begin: base + end]
        if info["dtype"] == "BF16":
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(buf, dtype=NP_DTYPES[info["dtype"]]).astype(np.float32)
        out[name] = a.reshape(info["shape"])
    return out


def load_model(folder: Path) -> dict:
    tensors = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        tensors.update(load(f))
    return tensors
