"""The Numba cache warm-up: a warmed kernel loads from the cache in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

KERNELS = """
import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def twice(v):
    return 2.0 * v


@njit(cache=True)
def double_block(x, y):
    for i in range(x.shape[0]):
        y[i] = twice(x[i])


@njit(cache=True)
def forgotten(x):
    return x.sum()


@njit
def not_cached(x):
    return x


def _warm_double():
    x = np.ones(16)
    y = np.empty(16)
    double_block(x, y)
    assert y[0] == 2.0


WARMUP = {"double_block": _warm_double}
"""


def make_package(root: Path, name: str, *, failing: bool = False) -> None:
    pkg = root / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Kernels for the warm-up tests."""\n')
    (pkg / "kernels.py").write_text(KERNELS)
    # Benchmarks import dev-only references; the warm-up must not import them.
    (pkg / "bench.py").write_text("import a_reference_the_field_unit_lacks\n")
    if failing:
        (pkg / "broken.py").write_text(
            "def _fail():\n    raise ValueError('bad shape')\n\nWARMUP = {'broken': _fail}\n"
        )


def run_warmup(pythonpath: Path, cache_dir: Path, package: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import json
        from gateway import warmup
        print(json.dumps(warmup.run(({package!r},))))
        """
    )
    env = dict(os.environ, PYTHONPATH=f"{pythonpath}{os.pathsep}{ROOT}")
    env["NUMBA_CACHE_DIR"] = str(cache_dir)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def report_of(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_warmed_kernels_load_from_the_cache_in_the_next_process(tmp_path: Path) -> None:
    make_package(tmp_path / "src", "warmpkg_a")
    cache = tmp_path / "cache" / "numba"

    proc = run_warmup(tmp_path / "src", cache, "warmpkg_a")
    first = report_of(proc)
    assert first["cache_dir"] == str(cache)
    assert list(first["entries"]) == ["warmpkg_a.kernels:double_block"]
    # Inline helpers and uncached kernels are not listed: warming them would be pointless.
    assert first["kernels"] == 2
    assert first["compiled"] == ["warmpkg_a.kernels.double_block"]
    assert first["cold"] == ["warmpkg_a.kernels.forgotten"]
    assert first["compiled_now"] == 1
    assert first["loaded_from_cache"] == 0
    assert list(cache.rglob("*.nbi")), "no index written into the cache"

    second = report_of(run_warmup(tmp_path / "src", cache, "warmpkg_a"))
    assert second["loaded_from_cache"] == 1
    assert second["compiled_now"] == 0


def test_a_failing_entry_is_reported_by_name(tmp_path: Path) -> None:
    make_package(tmp_path / "src", "warmpkg_c", failing=True)
    proc = run_warmup(tmp_path / "src", tmp_path / "cache", "warmpkg_c")
    assert proc.returncode != 0
    assert "warm-up warmpkg_c.broken:broken failed: ValueError: bad shape" in proc.stderr


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_unusable_cache_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(blocker / "numba"))
    proc = cli("warmup", env=env)
    assert proc.returncode == 1
    assert "cannot create the Numba cache directory" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not os.environ.get("NUMBA_CACHE_DIR"), reason="needs the session cache")
def test_the_service_kernels_warm_up(tmp_path: Path) -> None:
    # The real dsp package, with the suite's shared cache so that it is usually warm.
    proc = cli("warmup", env=dict(os.environ))
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert report["kernels"] >= 1
    assert all(name.startswith("dsp.") for name in report["compiled"] + report["cold"])
    assert report["kernels"] == len(report["compiled"]) + len(report["cold"])
    # Every kernel the service calls, the classifier's tree walker too.
    assert report["cold"] == []


def test_a_module_that_does_not_import_is_reported_as_a_broken_install(tmp_path: Path) -> None:
    make_package(tmp_path / "src", "warmpkg_d")
    (tmp_path / "src" / "warmpkg_d" / "half.py").write_text(
        "from warmpkg_d.kernels import renamed_kernel\n"
    )
    proc = run_warmup(tmp_path / "src", tmp_path / "cache", "warmpkg_d")
    assert proc.returncode != 0
    assert "cannot import the signal-processing code" in proc.stderr
    assert "renamed_kernel" in proc.stderr
