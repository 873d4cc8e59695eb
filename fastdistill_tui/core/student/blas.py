"""A fast BLAS for the student's child process on Linux (DESIGN §7).

mlx-cpu's wheel bundles reference BLAS (1024² float32 matmul ~7.7 GFLOP/s). libmlx imports
`cblas_sgemm` as an undefined symbol, so a BLAS preloaded into the process interposes it:
Debian's OpenBLAS (libopenblas0-pthread) with 2 threads reached 239 GFLOP/s, PyPI's `mkl` wheel
187, and a LoRA step of the 135M student went from ~50 s to 2.3-2.9 s. A preload must be set
before the process starts, which is one reason the student runs in a child process.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

OPENBLAS = Path("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0")
INSTALL_HINT = ("no fast BLAS found: student training and generation run on mlx's bundled "
                "reference BLAS, about 30x slower here. Install one: "
                "`apt-get install libopenblas0-pthread` (Debian/Ubuntu) or "
                "`pip install mkl` into this environment")


@dataclass(frozen=True)
class Blas:
    name: str  # "openblas" | "mkl" | "bundled" | "native" (not Linux: nothing to preload)
    env: dict[str, str]  # variables to add to the child's environment


def _mkl_lib() -> Path | None:
    """libmkl_rt from the `mkl` wheel, if installed in this environment."""
    lib = Path(sys.prefix) / "lib" / "libmkl_rt.so.2"
    for candidate in (lib, lib.with_name("libmkl_rt.so.3")):
        if candidate.exists():
            return candidate
    return None


def find_blas(threads: int | None = None) -> Blas:
    """OpenBLAS if the system has it, else the `mkl` wheel, else mlx's bundled BLAS.
    FASTDISTILL_BLAS=bundled forces the bundled one (benchmarks)."""
    if not sys.platform.startswith("linux"):
        return Blas("native", {})
    threads = threads or min(os.cpu_count() or 1, 8)
    forced = os.environ.get("FASTDISTILL_BLAS", "")
    if forced != "bundled" and OPENBLAS.exists():
        return Blas("openblas", {"LD_PRELOAD": str(OPENBLAS),
                                 "OPENBLAS_NUM_THREADS": str(threads)})
    mkl = _mkl_lib()
    if forced != "bundled" and mkl is not None:
        return Blas("mkl", {"LD_PRELOAD": str(mkl), "LD_LIBRARY_PATH": str(mkl.parent),
                            "MKL_THREADING_LAYER": "GNU", "MKL_NUM_THREADS": str(threads)})
    return Blas("bundled", {})


def child_env(blas: Blas) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in blas.env.items():
        if key in ("LD_PRELOAD", "LD_LIBRARY_PATH") and env.get(key):
            value = f"{value}:{env[key]}"
        env[key] = value
    return env
