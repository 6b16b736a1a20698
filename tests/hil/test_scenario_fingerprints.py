"""Scenarios without a site come out exactly as before the site variation existed.

The training and evaluation tables were made from these recordings; a change to the
generator that moves them must be deliberate (bump ``GENERATOR_VERSION`` and refresh the
stored fingerprints with ``python tests/hil/test_scenario_fingerprints.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers.recordings.waveforms import Recording
from hil.scenarios import generate

STORED = Path(__file__).with_name("scenario_fingerprints.json")
LEGACY = (
    "patrol",
    "quiet-night",
    "windy",
    "rainy",
    "busy-road",
    "border-crossing",
    "animals",
    "range-sweep",
    "demo",
    "noise-quiet",
    "noise-wind",
    "noise-rain",
    "noise-traffic",
    "noise-hum",
    "noise-faults",
    "noise-mixed",
)
"""The scenarios that existed before sites and the roadside/indoor world."""
VARIANT = "patrol@1000x3"


def _recording(name: str) -> Recording:
    if name == VARIANT:
        return generate(
            "patrol",
            90.0,
            seed=6,
            seismic_rate=1000.0,
            seismic_components=3,
            pir_rate=20.0,
            mag_rate=10.0,
        )
    return generate(name, 150.0, seed=5)


def fingerprint(rec: Recording) -> dict[str, Any]:
    """Shape, sums and a few samples of each channel; the truth's events."""
    out: dict[str, Any] = {}
    for name in sorted(rec.channels):
        d = rec.channels[name].data
        idx = np.linspace(0, d.shape[0] - 1, 7).astype(int)
        out[name] = {
            "shape": list(d.shape),
            "sum": float(np.sum(d)),
            "abs": float(np.sum(np.abs(d - np.median(d, axis=0)))),
            "samples": [float(v) for v in d[idx, 0]],
        }
    out["truth"] = [
        [ev.label, ev.extra["kind"], ev.t0, ev.t1, ev.t_cpa, ev.range_m] for ev in rec.truth
    ]
    return out


def _close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(b), scale, 1e-300)


@pytest.mark.parametrize("name", [*LEGACY, VARIANT])
def test_scenario_without_a_site_is_unchanged(name: str) -> None:
    stored = json.loads(STORED.read_text())[name]
    now = fingerprint(_recording(name))
    for ch in ("geo1", "pir1", "mag1"):
        a, b = now[ch], stored[ch]
        assert a["shape"] == b["shape"], ch
        scale = b["abs"]
        assert _close(a["abs"], b["abs"], scale), ch
        assert _close(a["sum"], b["sum"], scale), ch
        peak = max(abs(v) for v in b["samples"])
        for x, y in zip(a["samples"], b["samples"], strict=True):
            assert _close(x, y, peak), ch
    assert len(now["truth"]) == len(stored["truth"])
    for ev, old in zip(now["truth"], stored["truth"], strict=True):
        assert ev[:2] == old[:2]
        assert np.allclose(ev[2:], old[2:], atol=0.011), (ev, old)


def main() -> None:
    """Write the fingerprints of the current generator (after a deliberate change)."""
    prints = {name: fingerprint(_recording(name)) for name in (*LEGACY, VARIANT)}
    lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in prints.items()]
    STORED.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {STORED}", file=sys.stderr)


if __name__ == "__main__":
    main()
