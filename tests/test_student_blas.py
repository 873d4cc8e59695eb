"""The BLAS choice for the student's process: the wheel's libgfortran made loadable through
links in the cache, the forced bundled BLAS, and a plan cut to fit minutes where no fast BLAS
was found (the measured rate comes in; nothing here times anything)."""

from __future__ import annotations

import sys
from dataclasses import replace

from fastdistill_tui.core.student import blas as blas_mod
from fastdistill_tui.core.student.profiles import PROFILES, expected_seconds, fit_plan

WEIGHTS = 134_515_008  # SmolLM2-135M


def test_the_fortran_runtime_of_a_wheel_is_linked_under_the_name_the_loader_wants(
        tmp_path, monkeypatch):
    libs = tmp_path / "site" / "mlx_cpu.libs"
    libs.mkdir(parents=True)
    (libs / "libgfortran-f7379c93.so.5.0.0").write_bytes(b"gfortran")
    (libs / "libquadmath-a962d038.so.0.0.0").write_bytes(b"quadmath")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "site")])
    links = blas_mod._fortran_dir(tmp_path / "cache")
    assert (links / "libgfortran.so.5").read_bytes() == b"gfortran"
    assert (links / "libquadmath-a962d038.so.0.0.0").read_bytes() == b"quadmath"
    assert blas_mod._fortran_dir(tmp_path / "cache") == links  # idempotent
    monkeypatch.setattr(sys, "path", [str(tmp_path / "elsewhere")])
    assert blas_mod._fortran_dir(tmp_path / "cache2") is None


def test_fastdistill_blas_bundled_forces_the_slow_path(monkeypatch):
    monkeypatch.setenv("FASTDISTILL_BLAS", "bundled")
    found = blas_mod.find_blas(2)
    assert found.env == {} and not found.fast
    assert found.name == ("bundled" if sys.platform.startswith("linux") else "native")


def test_a_slow_machine_gets_a_plan_that_ends_in_minutes():
    quick = PROFILES["quick"]
    fast, before, after = fit_plan(quick, WEIGHTS, gflops=200.0, questions=96)
    assert fast == quick and before == after < 600
    slow, before, after = fit_plan(quick, WEIGHTS, gflops=5.0, questions=96)
    assert before > 3600  # hours on mlx's bundled BLAS ...
    assert slow.eval_limit < 96 and slow.iters < quick.iters and after < before / 4
    assert after == expected_seconds(slow, WEIGHTS, 5.0, slow.eval_limit)
    floor, _, _ = fit_plan(quick, WEIGHTS, gflops=0.1, questions=96)
    assert (floor.eval_limit, floor.iters) == (8, 2)  # a result, however small
    assert replace(floor, eval_limit=96, iters=45, steps_per_eval=45) == quick
