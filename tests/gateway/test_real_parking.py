"""The rdvd_parking preparation on window files made here, laid out as the source's, and the
detector on what it writes: a car that parks is heard arriving and leaving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drivers.errors import InputError
from drivers.recordings import read_recording
from dsp.config import DspConfig
from gateway.bench.real import rdvd_parking
from gateway.bench.real.common import Source
from hil.analysis import OFFLINE_PRIME_S, as_analysed, run_detector

STEP_MS = 90.0


def window_rows(
    rng: np.random.Generator, n: int, arrive: int, leave: int, level: float, version: int
) -> np.ndarray:
    """One axis file of a window: sequence, ms since boot (jittered per version), field in
    counts (a car parked from ``arrive`` to ``leave``), label."""
    seq = np.arange(n, dtype=np.float64)
    clock = 36_447_261 + np.round(seq * STEP_MS + rng.uniform(-3, 3, n)) + version
    field = level + rng.standard_normal(n) * 6.0
    field[arrive:leave] -= 230.0
    label = np.zeros(n)
    label[arrive:leave] = 1.0
    return np.column_stack([seq, clock, np.round(field), label])


def write_window(folder: Path, first: int, n: int, arrive: int, leave: int, files: int = 9) -> None:
    rng = np.random.default_rng(first)
    base = window_rows(rng, n, arrive, leave, 600.0, 0)
    for k in range(files):
        rows = window_rows(rng, n, arrive, leave, 600.0 + 50 * (k % 3), k // 3)
        rows[:, 0], rows[:, 3] = base[:, 0], base[:, 3]  # one sequence and label per window
        rows[0, 1] = base[0, 1]  # and one clock start
        text = "\n".join(",".join(f"{v:.0f}" for v in row) for row in rows)
        (folder / f"sample{first + k}.txt").write_text(text + "\n")


def test_windows_become_arrivals_and_departures_and_the_detector_hears_them(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "src" / "Datasets" / "parking"
    folder.mkdir(parents=True)
    write_window(folder, 1, 500, 130, 400)  # in at 11.7 s, out at 36 s
    write_window(folder, 82, 400, 0, 250)  # parked from the start (a held-out window)
    write_window(folder, 200, 300, 100, 200, files=3)  # not 9 files: skipped
    out = tmp_path / "out"
    out.mkdir()

    rdvd_parking.prepare(Source.open(tmp_path / "src", rdvd_parking.DATASET), out)

    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["file"]: f["split"] for f in manifest["files"]} == {
        "parking_s5.npz": "dev",
        "parking_s86.npz": "heldout",
    }
    assert manifest["skipped_windows"] == {"3 files (not 3 versions x 3 axes)": 1}
    rec = read_recording(out / "parking_s5.npz")
    ch = rec.channels["mag1"]
    assert ch.data.shape == (500, 3) and abs(ch.rate - 1000.0 / STEP_MS) < 0.05
    assert rec.start_time == 0.0  # a clock since boot has no date
    kinds = [(e.extra["parking"], e.extra["detectable"]) for e in rec.truth]
    assert kinds == [("arrival", True), ("stay", False), ("departure", True)]
    arrival = rec.truth[0]
    assert arrival.t0 < 130 / ch.rate < arrival.t1
    # Parked from the start: its departure only.
    held = read_recording(out / "parking_s86.npz")
    assert [e.extra["parking"] for e in held.truth] == ["stay", "departure"]

    # The car stays for half the window: both its arrival and its departure are found.
    analysed = as_analysed(rec)
    assert analysed is not None
    found = run_detector(analysed, DspConfig(), prime_s=OFFLINE_PRIME_S).detections
    for event in (rec.truth[0], rec.truth[2]):
        assert any(d.cls == "vehicle" and d.t0 <= event.t1 and d.t1 >= event.t0 for d in found)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"garbage,\x00\xff\n", "not a window of numbers"), (b"1,2,3\n4,5,6\n", "not four columns")],
)
def test_a_damaged_window_file_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    folder = tmp_path / "src" / "Datasets" / "parking"
    folder.mkdir(parents=True)
    write_window(folder, 1, 200, 60, 150)
    (folder / "sample50.txt").write_bytes(content)
    with pytest.raises(InputError, match=rf"sample50\.txt: {message}"):
        rdvd_parking.prepare(Source.open(tmp_path / "src", rdvd_parking.DATASET), tmp_path)
