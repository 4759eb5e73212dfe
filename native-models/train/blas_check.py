"""Which BLAS this PyTorch uses, and how fast: Debian's python3-torch links libblas.so.3, which is the
reference BLAS (~3 GFLOPS, training ~9x slower) unless libopenblas0-pthread has taken over the alternative."""
from __future__ import annotations

import sys
import time


def loaded_blas() -> str | None:
    """Path of the libblas / openblas shared object mapped into this process, if any (Linux only)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line and "/" in line}
    except OSError:
        return None
    return sorted(paths)[0] if paths else None


def matmul_gflops(n: int = 512, seconds: float = 0.3) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    runs, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        runs += 1
    return runs * 2 * n**3 / (time.perf_counter() - t0) / 1e9


def check_blas(min_gflops: float = 10.0) -> dict:
    """Measure; print a loud warning on stderr when the slow reference BLAS is in use."""
    gflops, lib = matmul_gflops(), loaded_blas()
    slow = gflops < min_gflops
    if slow:
        bar = "!" * 100
        print(f"{bar}\nWARNING: matmul runs at {gflops:.1f} GFLOPS (BLAS: {lib or 'unknown'}): this is the "
              "reference BLAS and training will be ~9x slower.\nInstall Debian's OpenBLAS, which takes over "
              f"libblas.so.3:  apt-get install libopenblas0-pthread\n{bar}", file=sys.stderr, flush=True)
    return {"gflops_512": round(gflops, 1), "blas": lib, "slow": slow}


if __name__ == "__main__":
    import json

    print(json.dumps(check_blas()))
