"""The checklist of docs/sensor-kinds.md, walked once: a fourth kind is one descriptor, one
driver, one emulator and one DSP chain (this package), and nothing else changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_fourth_kind_reaches_every_part(tmp_path: Path) -> None:
    # A fresh interpreter: the kind must be known before the config schema is built.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.fourth_kind.walk", str(tmp_path)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:5] == [
        "cli", "config", "recordings", "emulator and driver", "chain",
    ], done.stdout  # fmt: skip
