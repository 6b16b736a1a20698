"""A short held-out evaluation: the packaged model on seeds it never saw (>= 9000).

The full evaluation (15 hours, the bars of docs/evaluation.md) is gateway.bench.heldout;
this one keeps CI honest in about half a minute, with looser limits for its small sample.
"""

from __future__ import annotations

import pytest

from hil.analysis import run_detector
from hil.scenarios import generate
from hil.scoring import Counts, score

pytestmark = pytest.mark.slow


def test_held_out_patrol_and_noise():
    events = Counts()
    for name, seed in (("patrol", 9200), ("border-crossing", 9201)):
        rec = generate(name, 900.0, seed)
        events.add(score(rec.truth, run_detector(rec).detections, rec.duration))
    noise = Counts()
    for name in ("noise-mixed", "noise-wind"):
        rec = generate(name, 900.0, 9202)
        noise.add(score(rec.truth, run_detector(rec).detections, rec.duration, noise_only=True))
    s = events.summary()
    assert s["per_class"]["footstep"]["n_truth"] >= 20
    assert s["pd_within"]["footstep"]["pd"] >= 0.85
    assert s["per_class"]["footstep"]["precision"] >= 0.9
    assert (
        s["per_class"]["vehicle"]["precision"] in (None,)
        or s["per_class"]["vehicle"]["precision"] >= 0.8
    )
    assert noise.summary()["false_alarms"] <= 1
