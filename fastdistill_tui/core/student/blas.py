"""A fast BLAS for the student's child process on Linux (DESIGN §7, docs/PERFORMANCE.md).

mlx-cpu's wheel bundles reference BLAS (1024² float32 matmul ~5-8 GFLOP/s). libmlx imports
`cblas_sgemm` as an undefined symbol, so a BLAS preloaded into the process interposes it. The
default install brings one: PyPI's `ngsolve-openblas` wheel (13 MB, an unprefixed
DYNAMIC_ARCH OpenBLAS, ~170-210 GFLOP/s with 2 threads here). Its library needs
`libgfortran.so.5`, which a fresh machine may lack; mlx-cpu's own wheel carries one under a
mangled name, so a directory in the cache gets links under the names the loader looks for.
Debian's OpenBLAS (libopenblas0-pthread) and PyPI's `mkl` are used where present. A preload
must be set before the process starts, one reason the student runs in a child process. An
mlx built for CUDA runs on the GPU: nothing is preloaded there.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SYSTEM_OPENBLAS = Path("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0")
OPENBLAS_WHEEL = "ngsolve_openblas"  # PyPI ngsolve-openblas, a dependency on Linux x86-64
CUDA_DISTRIBUTIONS = ("mlx-cuda-13", "mlx-cuda-12", "mlx-cuda")
FORTRAN_RUNTIMES = ("mlx_cpu.libs", "numpy.libs")  # wheels that carry a libgfortran.so.5
INSTALL_HINT = ("install a fast BLAS into this environment: `pip install ngsolve-openblas` "
                "(or `pip install mkl`), or skip the student with --no-student")
PROBE = """
import time, mlx.core as mx
a = mx.random.normal((1024, 1024)); b = mx.random.normal((1024, 1024))
mx.eval(a @ b)
best = 0.0
for _ in range(3):
    t = time.perf_counter()
    mx.eval(a @ b)
    best = max(best, 2 * 1024**3 / (time.perf_counter() - t))
print(best / 1e9)
"""


@dataclass(frozen=True)
class Blas:
    # "openblas" (the system's) | "openblas-wheel" | "mkl" | "bundled" (mlx-cpu's reference
    # BLAS) | "cuda" (mlx on an NVIDIA GPU) | "native" (not Linux: nothing to preload)
    name: str
    env: dict[str, str]  # variables to add to the child's environment

    @property
    def fast(self) -> bool:
        return self.name != "bundled"


def cuda_installed() -> bool:
    return _cuda_state() == "active"


def cuda_hint() -> str | None:
    """What to do when mlx's CUDA backend is installed but not the one in use: mlx-cpu (a base
    dependency) ships the same libmlx.so, and a single `pip install ".[cuda]"` unpacks it last
    (seen on an H200: the student then ran on the CPU)."""
    if _cuda_state() != "overwritten":
        return None
    return ("mlx's CUDA backend is installed but mlx-cpu's libmlx.so replaced its library, so "
            "the student runs on the CPU: run `pip install --force-reinstall --no-deps "
            "mlx-cuda-13` (or mlx-cuda-12) in this environment")


def _cuda_state() -> str:
    """"active" (an mlx CUDA backend's libmlx is the one on disk), "overwritten" (installed,
    but its libmlx.so was replaced) or "absent"."""
    for name in CUDA_DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or []:
            if file.name == "libmlx.so" and file.size is not None:
                path = Path(str(dist.locate_file(file)))
                same = path.exists() and path.stat().st_size == file.size
                return "active" if same else "overwritten"
    return "absent"


def _site_dirs() -> list[Path]:
    return [Path(p) for p in sys.path if p and Path(p).is_dir()]


def _wheel_openblas() -> Path | None:
    spec = importlib.util.find_spec(OPENBLAS_WHEEL)  # finds it without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("libopenblas*.so*"))
        if found:
            return found[0]
    return None


def _fortran_dir(links: Path) -> Path | None:
    """A directory where `libgfortran.so.5` resolves to the copy a wheel carries (the wheel's
    libraries keep their mangled names, linked as they are). Used whether or not the system
    has one, so every machine runs the same runtime; None if no wheel carries it."""
    for site in _site_dirs():
        for libs in FORTRAN_RUNTIMES:
            runtime = sorted((site / libs).glob("libgfortran-*.so.5*"))
            if not runtime:
                continue
            # one directory per environment: two venvs sharing the cache do not swap links
            links = links / hashlib.sha256(str(site / libs).encode()).hexdigest()[:12]
            links.mkdir(parents=True, exist_ok=True)
            for target in (site / libs).iterdir():
                _link(links / target.name, target)
            _link(links / "libgfortran.so.5", runtime[0])
            return links
    return None


def _link(path: Path, target: Path) -> None:
    if path.is_symlink() and path.resolve() == target.resolve():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, path)


def _mkl_lib() -> Path | None:
    """libmkl_rt from the `mkl` wheel, if installed in this environment."""
    lib = Path(sys.prefix) / "lib" / "libmkl_rt.so.2"
    for candidate in (lib, lib.with_name("libmkl_rt.so.3")):
        if candidate.exists():
            return candidate
    return None


def find_blas(threads: int | None = None, links: Path | None = None) -> Blas:
    """The first of: CUDA (nothing to preload), the system's OpenBLAS, the OpenBLAS wheel, the
    `mkl` wheel, else mlx's bundled BLAS. FASTDISTILL_BLAS=NAME picks one of them by name
    (benchmarks; `bundled` forces the slow path). `links` is where the Fortran runtime links
    go (default: the user cache)."""
    if not sys.platform.startswith("linux"):
        return Blas("native", {})
    forced = os.environ.get("FASTDISTILL_BLAS", "")
    if forced in ("", "cuda") and cuda_installed():
        return Blas("cuda", {})
    threads = threads or min(os.cpu_count() or 1, 8)
    openblas_env = {"OPENBLAS_NUM_THREADS": str(threads)}
    if forced in ("", "openblas") and SYSTEM_OPENBLAS.exists():
        return Blas("openblas", {"LD_PRELOAD": str(SYSTEM_OPENBLAS), **openblas_env})
    wheel = _wheel_openblas() if forced in ("", "openblas-wheel") else None
    if wheel is not None:
        if links is None:
            from ..config import cache_dir

            links = cache_dir() / "blas"
        env = {"LD_PRELOAD": str(wheel), **openblas_env}
        fortran = _fortran_dir(links)
        if fortran is not None:
            env["LD_LIBRARY_PATH"] = str(fortran)
        return Blas("openblas-wheel", env)
    mkl = _mkl_lib() if forced in ("", "mkl") else None
    if mkl is not None:
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


def probe_gflops(blas: Blas, timeout_s: float = 60.0) -> float | None:
    """1024² float32 matmul GFLOP/s in a child with blas's environment (a few seconds even on
    the bundled BLAS); None if the probe fails."""
    try:
        done = subprocess.run([sys.executable, "-c", PROBE], env=child_env(blas),
                              capture_output=True, text=True, timeout=timeout_s)
        return float(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError, OSError):
        return None
