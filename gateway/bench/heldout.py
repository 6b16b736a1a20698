"""The detector's statistical evaluation on seeds it was never trained or tuned on.

Simulates every event scenario (30 min) and every noise-only scenario (one hour) for each
held-out seed (two by default; more are pooled), runs the packaged detector over each, fed
in 0.1-s blocks as the live drivers deliver them, scores it (hil.scoring, the rule in
docs/evaluation.md) and prints a Markdown table per scenario, the totals, the range
fall-off, the bars and the latency (when each detection came out, less its end), then the
whole report as JSON. Takes a few minutes:

    .venv/bin/python -m gateway.bench.heldout [--seeds 9300,9301 | 9500-9507] [--event-s 1800]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from dsp.classifier import load_model
from dsp.config import DspConfig
from gateway.commands.eval import add_seeds_argument
from hil.analysis import run_detector
from hil.scenarios import generate
from hil.scenarios.specs import SPECS, STUDIED
from hil.scoring import Counts, score

EVENT_SCENARIOS = tuple(name for name in STUDIED if not SPECS[name].noise_only)
NOISE_SCENARIOS = tuple(name for name in STUDIED if SPECS[name].noise_only)
BLOCK_S = 0.1


def training_seeds(info: dict[str, Any]) -> set[int] | None:
    """The seeds a model was trained on, as its file records them (``info["seeds"]``);
    None when it does not say (then no seed can be called held out)."""
    seeds = info.get("seeds")
    if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds):
        return None
    return set(seeds)


def refused_seeds(seeds: list[int], info: dict[str, Any]) -> list[int] | None:
    """Those of ``seeds`` the model was trained on (None: the model does not say)."""
    trained = training_seeds(info)
    return None if trained is None else [s for s in seeds if s in trained]


def latency_summary(latencies: list[float]) -> dict[str, Any]:
    """p50 / p95 / p99 / max of the latencies (seconds) and their number."""
    if not latencies:
        return {"n": 0}
    q = np.percentile(np.asarray(latencies), [50, 95, 99, 100])
    return {
        "n": len(latencies),
        **{k: round(float(v), 2) for k, v in zip(("p50", "p95", "p99", "max"), q, strict=True)},
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def row(name: str, s: dict[str, Any]) -> str:
    pc, w = s["per_class"], s["pd_within"]
    cells = [
        name,
        f"{s['duration_s'] / 3600:.2f}",
        f"{pc['footstep']['n_truth']}/{pc['vehicle']['n_truth']}/{pc['unknown']['n_truth']}",
        _fmt(w["footstep"]["pd"]),
        _fmt(pc["footstep"]["pd"]),
        _fmt(w["vehicle"]["pd"]),
        _fmt(pc["vehicle"]["pd"]),
        _fmt(pc["footstep"]["precision"]),
        _fmt(pc["vehicle"]["precision"]),
        _fmt(pc["unknown"]["handled"]),
        _fmt(s["false_alarms_per_hour"]),
        str(s["duplicates"]),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| scenario | hours | events f/v/u | footstep Pd <=15 m | footstep Pd all | "
    "vehicle Pd <=100 m | vehicle Pd all | footstep precision | vehicle precision | "
    "animals handled | FA/h | duplicates |\n|" + "---|" * 12
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_seeds_argument(parser, "9300,9301")
    parser.add_argument("--event-s", type=float, default=1800.0)
    parser.add_argument("--noise-s", type=float, default=3600.0)
    args = parser.parse_args()
    seeds: list[int] = args.seeds
    model = load_model()
    refused = refused_seeds(seeds, model.info)
    if refused is None:
        print("refusing: the model does not record its training seeds", file=sys.stderr)
        return 2
    if refused:
        print(f"refusing: the model was trained on seeds {refused}", file=sys.stderr)
        return 2
    config = DspConfig()
    per: dict[str, Counts] = {}
    total, events_only, noise_only = Counts(), Counts(), Counts()
    started = time.monotonic()
    plan = [(n, s, args.event_s) for n in EVENT_SCENARIOS for s in seeds]
    plan += [(n, s, args.noise_s) for n in NOISE_SCENARIOS for s in seeds]
    latencies: list[float] = []
    for name, seed, duration in plan:
        rec = generate(name, duration, seed)
        result = run_detector(rec, config, model=model, block_s=BLOCK_S)
        # Detections still held at the end of a recording only come out at its flush.
        latencies += [
            out - det.t1
            for det, out in zip(result.detections, result.emitted_s, strict=True)
            if out < rec.duration
        ]
        noise = bool(rec.meta.get("noise_only"))
        c = score(rec.truth, result.detections, rec.duration, noise_only=noise)
        per.setdefault(name, Counts()).add(c)
        total.add(c)
        (noise_only if noise else events_only).add(c)
        print(f"  {name}/{seed}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(
        f"model {model.info.get('id')} (training seeds {model.info.get('seeds')}); "
        f"held-out seeds {seeds}\n"
    )
    print(HEADER)
    for name, c in per.items():
        print(row(name, c.summary()))
    print(row("**event scenarios**", events_only.summary()))
    print(row("**noise-only**", noise_only.summary()))
    print(row("**all**", total.summary()))
    s = events_only.summary()
    print("\nRange fall-off (event scenarios, detectable events):\n")
    for cls in ("footstep", "vehicle", "unknown"):
        cells = [
            f"{r['range_m'][0]:g}-{r['range_m'][1]:g} m: {_fmt(r['pd'])} (n={r['n']})"
            for r in s["pd_by_range"][cls]
        ]
        label = "handled" if cls == "unknown" else "Pd"
        print(f"- {cls} {label}: " + ", ".join(cells))
    print("\nConfusion (truth -> reported), event scenarios:", json.dumps(s["confusion"]))
    ns = noise_only.summary()
    bars = {
        "footstep_pd_within_15m": s["pd_within"]["footstep"]["pd"],
        "vehicle_pd_within_100m": s["pd_within"]["vehicle"]["pd"],
        "footstep_precision": total.summary()["per_class"]["footstep"]["precision"],
        "vehicle_precision": total.summary()["per_class"]["vehicle"]["precision"],
        "noise_only_false_alarms_per_hour": ns["noise_only_false_alarms_per_hour"],
        "events": sum(s["per_class"][c]["n_truth"] for c in ("footstep", "vehicle", "unknown")),
        "hours": round(total.duration_s / 3600.0, 2),
    }
    print("\nBars:", json.dumps(bars))
    lat = latency_summary(latencies)
    print(f"\nLatency, emit - t1 in {BLOCK_S:g}-s blocks:", json.dumps(lat))
    report = {
        "bars": bars,
        "latency_s": lat,
        "events": s,
        "noise_only": ns,
        "per_scenario": {k: v.summary() for k, v in per.items()},
    }
    print("\n" + json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
