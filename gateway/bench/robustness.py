"""How the detector holds up off its home ground: triggered clips, a unit with only some of
its sensors, and foreign units, on seeds it was never trained or tuned on.

- *clips*: from every event scenario, a triggered 10-s clip from 0.5 s before each footstep
  within 15 m and each vehicle within 100 m that is alone in it, analysed as a file is
  (`ugs-gateway eval --clips`): the share reported with the right class;
- *sensor sets*: every event scenario seen by each combination of sensors (the others'
  channels left out, events none of them could perceive not counted), and the noise-only
  scenarios for their false alarms (`eval --sensor`); and each set of two or three kinds
  against its best member alone on the same events, since a set faces the events any of its
  kinds could perceive, more than any member's own row counts;
- *sites*: every scenario rendered through a random unit (rates, ground, transducer,
  converters: `eval --site random`).

Prints Markdown tables, then the whole report as JSON. A few minutes:

    .venv/bin/python -m gateway.bench.robustness [--seeds 9300,9301 | 9500-9507] [--duration 1800]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from drivers.recordings.waveforms import Recording
from dsp.classifier import load_model
from dsp.config import DspConfig
from gateway.commands.analyze import add_installation_argument
from gateway.commands.eval import add_seeds_argument
from hil.analysis import OFFLINE_PRIME_S, run_detector
from hil.clips import bar_trigger, triggered_clips
from hil.scenarios import generate
from hil.scenarios.specs import SPECS, STUDIED
from hil.scoring import Counts, score

EVENT_SCENARIOS = tuple(name for name in STUDIED if not SPECS[name].noise_only)
NOISE_SCENARIOS = tuple(name for name in STUDIED if SPECS[name].noise_only)
KINDS = ("seismic", "pir", "magnetometer")


def _run(rec: Any, config: DspConfig, model: Any, noise_only: bool) -> Counts:
    found = run_detector(rec, config, model=model, prime_s=OFFLINE_PRIME_S).detections
    return score(rec.truth, found, rec.duration, noise_only=noise_only)


def clips(seeds: Iterable[int], duration: float, config: DspConfig, model: Any) -> Counts:
    total = Counts()
    for seed, name in itertools.product(seeds, EVENT_SCENARIOS):
        for clip in triggered_clips(generate(name, duration, seed), bar_trigger()):
            total.add(_run(clip, config, model, False))
    return total


SensorSet = tuple[str, ...]
SENSOR_SETS: tuple[SensorSet, ...] = tuple(
    kinds for r in range(1, len(KINDS) + 1) for kinds in itertools.combinations(KINDS, r)
)


@dataclass
class SetCounts:
    """One sensor set's tallies: its own, its noise-only false alarms, and each of its
    members alone scored on the set's events (those any of its kinds could perceive)."""

    events: Counts = field(default_factory=Counts)
    noise: Counts = field(default_factory=Counts)
    members: dict[str, Counts] = field(default_factory=dict)


def tally_sets(
    rec: Recording, noise_only: bool, config: DspConfig, model: Any, out: dict[SensorSet, SetCounts]
) -> None:
    """Add one recording, seen by every sensor set, to ``out``."""
    parts = {kinds: rec.only(kinds) for kinds in SENSOR_SETS}
    found = {
        kinds: run_detector(part, config, model=model, prime_s=OFFLINE_PRIME_S).detections
        for kinds, part in parts.items()
    }
    for kinds, part in parts.items():
        tally = out.setdefault(kinds, SetCounts())
        counts = score(part.truth, found[kinds], rec.duration, noise_only=noise_only)
        (tally.noise if noise_only else tally.events).add(counts)
        if noise_only or len(kinds) == 1:
            continue
        for kind in kinds:
            alone = score(part.truth, found[(kind,)], rec.duration)
            tally.members.setdefault(kind, Counts()).add(alone)


def sensor_sets(
    seeds: Iterable[int], duration: float, config: DspConfig, model: Any
) -> dict[SensorSet, SetCounts]:
    """Every sensor set on every scenario, each recording simulated once.

    A set faces more events than any of its members (those any of its kinds could perceive),
    so its Pd is compared with each member's on the same events, not with the member's own
    row: the member's detections scored against the set's truth."""
    out = {kinds: SetCounts() for kinds in SENSOR_SETS}
    for seed in seeds:
        for name in (*EVENT_SCENARIOS, *NOISE_SCENARIOS):
            tally_sets(generate(name, duration, seed), name in NOISE_SCENARIOS, config, model, out)
    return out


def sites(
    seeds: Iterable[int], duration: float, config: DspConfig, model: Any
) -> tuple[Counts, Counts]:
    events, noise = Counts(), Counts()
    for seed in seeds:
        for name in EVENT_SCENARIOS:
            events.add(_run(generate(name, duration, seed, site="random"), config, model, False))
        for name in NOISE_SCENARIOS:
            noise.add(_run(generate(name, duration, seed, site="random"), config, model, True))
    return events, noise


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _pd_within(counts: Counts) -> dict[str, float | None]:
    within = counts.summary()["pd_within"]
    return {cls: within[cls]["pd"] for cls in ("footstep", "vehicle")}


def summary(events: Counts, noise: Counts | None = None) -> dict[str, Any]:
    s = events.summary()
    pc = s["per_class"]
    out = {
        "footstep_pd_within_15m": s["pd_within"]["footstep"]["pd"],
        "footstep_n": s["pd_within"]["footstep"]["n"],
        "vehicle_pd_within_100m": s["pd_within"]["vehicle"]["pd"],
        "vehicle_n": s["pd_within"]["vehicle"]["n"],
        "footstep_precision": pc["footstep"]["precision"],
        "vehicle_precision": pc["vehicle"]["precision"],
        "confusion": s["confusion"],
    }
    if noise is not None:
        out["noise_only_false_alarms_per_hour"] = noise.summary()[
            "noise_only_false_alarms_per_hour"
        ]
        out["noise_only_hours"] = round(noise.noise_only_s / 3600.0, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_seeds_argument(parser, "9300,9301")
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds per recording")
    parser.add_argument("--model", help="classifier model (default: packaged, --installation)")
    add_installation_argument(parser)
    args = parser.parse_args()
    seeds: list[int] = args.seeds
    model = load_model(args.model, args.installation or "ground")
    trained = set(model.info.get("seeds", []))
    if trained & set(seeds):
        print(f"seeds {sorted(trained & set(seeds))} trained this model", file=sys.stderr)
        return 2
    config = DspConfig()
    report: dict[str, Any] = {"model": model.info.get("id"), "seeds": seeds}
    c = clips(seeds, args.duration, config, model)
    s = c.summary()["per_class"]
    n = s["footstep"]["n_truth"] + s["vehicle"]["n_truth"]
    hit = s["footstep"]["n_detected"] + s["vehicle"]["n_detected"]
    report["clips"] = {
        "n": n,
        "right_class": round(hit / n, 4) if n else None,
        "footstep": s["footstep"]["pd"],
        "vehicle": s["vehicle"]["pd"],
        "confusion": c.summary()["confusion"],
    }
    print(f"model {report['model']}, held-out seeds {seeds}\n")
    print("Triggered 10-s clips (0.5 s lead), right class:")
    rc = report["clips"]
    print(
        f"{_f(rc['right_class'])} of {n} (footsteps {_f(rc['footstep'])}, vehicles "
        f"{_f(rc['vehicle'])})\n"
    )
    print(
        "| sensors | footstep Pd <=15 m | vehicle Pd <=100 m | footstep precision | "
        "vehicle precision | FA/h (noise-only) |"
    )
    print("|---|---|---|---|---|---|")
    report["sensor_sets"] = {}
    tallies = sensor_sets(seeds, args.duration, config, model)
    for kinds, tally in tallies.items():
        entry = summary(tally.events, tally.noise)
        if tally.members:
            entry["members_on_these_events"] = {
                kind: _pd_within(counts) for kind, counts in tally.members.items()
            }
        report["sensor_sets"]["+".join(kinds)] = entry
        print(
            f"| {' + '.join(kinds)} | {_f(entry['footstep_pd_within_15m'])} | "
            f"{_f(entry['vehicle_pd_within_100m'])} | {_f(entry['footstep_precision'])} | "
            f"{_f(entry['vehicle_precision'])} | "
            f"{_f(entry['noise_only_false_alarms_per_hour'])} |"
        )
    entry = summary(*sites(seeds, args.duration, config, model))
    report["random_sites"] = entry
    print(
        f"| all three, random sites | {_f(entry['footstep_pd_within_15m'])} | "
        f"{_f(entry['vehicle_pd_within_100m'])} | {_f(entry['footstep_precision'])} | "
        f"{_f(entry['vehicle_precision'])} | {_f(entry['noise_only_false_alarms_per_hour'])} |"
    )
    print()
    print("Each set against its best member alone, on the set's events (those any of its kinds")
    print("could perceive; a member's own row above counts only those it could):\n")
    print(
        "| sensors | footstep Pd <=15 m: set / best alone | vehicle Pd <=100 m: set / best alone |"
    )
    print("|---|---|---|")
    for key, entry in report["sensor_sets"].items():
        members = entry.get("members_on_these_events")
        if not members:
            continue
        cells = []
        for cls, col in (
            ("footstep", "footstep_pd_within_15m"),
            ("vehicle", "vehicle_pd_within_100m"),
        ):
            best = max(members, key=lambda k: members[k][cls] or 0.0)
            cells.append(f"{_f(entry[col])} / {_f(members[best][cls])} ({best})")
        print(f"| {key.replace('+', ' + ')} | {cells[0]} | {cells[1]} |")
    print()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
