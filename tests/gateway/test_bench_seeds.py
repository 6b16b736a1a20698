"""The statistical benches take their seeds as `eval` does: N, A-B or A,B,... .

More seeds than a pair are pooled into one table, so the command that gives a pooled figure
is one line; a training seed is refused before anything runs, and a bad list is a usage
error with the reason, never a traceback.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

BENCHES = ("gateway.bench.heldout", "gateway.bench.robustness")


def bench(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_range_of_seeds_is_read_as_every_seed_in_it() -> None:
    # 1000-1001 trained the packaged model: the refusal names both, so the range was read
    # as the two seeds (and nothing was simulated).
    out = bench("gateway.bench.heldout", "--seeds", "1000-1001")
    assert out.returncode == 2
    assert "[1000, 1001]" in out.stderr


@pytest.mark.parametrize("module", BENCHES)
def test_a_bad_seed_list_is_a_usage_error(module: str) -> None:
    out = bench(module, "--seeds", "9500-x")
    assert out.returncode == 2
    assert "'9500-x': expected N, A-B or A,B" in out.stderr
    assert "Traceback" not in out.stderr
