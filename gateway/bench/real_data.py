"""Score the detector on recordings of real sensors (docs/real-data.md).

The recordings are not in this repository (their licences do not all allow it): each data
set is prepared from a local copy of its public source into a folder of NPZ files with
truth sidecars and a ``manifest.json`` that says which split every file belongs to
(docs/real-data.md says where each comes from and how it is prepared). Point this script at
the folder that holds them:

  .venv/bin/python -m gateway.bench.real_data /data/ugs-real --split heldout
  .venv/bin/python -m gateway.bench.real_data /data/ugs-real --split dev --dataset rdvd_traffic

Every file is analysed as ``ugs-gateway analyze`` would (the detector surveys the start of
the file first) and scored with the rule of docs/evaluation.md, one file at a time. Per
data set it prints Pd and precision per class, what each class of event was called, and
false alarms per hour of the time no event was going on. ``--single-axis`` also scores
every axis of multi-axis magnetometer files on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.recordings import read_recording
from drivers.recordings.waveforms import Channel, Recording, TruthEvent
from dsp.classifier import load_model
from dsp.config import DspConfig
from hil.analysis import OFFLINE_PRIME_S, run_detector
from hil.scoring import Counts, score


@dataclass
class Tally:
    counts: Counts = field(default_factory=Counts)
    files: int = 0
    quiet_s: float = 0.0
    """Seconds in which no truth event was going on."""
    quiet_false_alarms: int = 0
    calls: dict[str, Counter[str]] = field(default_factory=dict)
    """Truth label -> what the detector called it (its class, or ``missed``)."""

    def add(self, rec: Recording, detections: list[Any]) -> None:
        noise_only = bool(rec.meta.get("noise_only", False))
        c = score(rec.truth, detections, rec.duration, noise_only=noise_only)
        self.counts.add(c)
        self.files += 1
        self.quiet_s += rec.duration - _busy(rec.truth, rec.duration)
        self.quiet_false_alarms += sum(c.false_alarms.values())
        for label, row in c.confusion.items():
            if label != "none":
                self.calls.setdefault(label, Counter()).update(row)

    def summary(self) -> dict[str, Any]:
        s = self.counts.summary()
        hours = round(self.counts.duration_s / 3600, 3)
        out: dict[str, Any] = {"files": self.files, "hours": hours}
        for cls in ("footstep", "vehicle"):
            pc = s["per_class"][cls]
            if pc["n_truth"] or pc["n_reported"]:
                out[cls] = {
                    "n": pc["n_truth"],
                    "recall": pc["pd"],
                    "precision": pc["precision"],
                    "reported": pc["n_reported"],
                }
        out["called"] = {
            label: {k: round(v / max(sum(row.values()), 1), 3) for k, v in sorted(row.items())}
            for label, row in sorted(self.calls.items())
        }
        out["false_alarms"] = self.quiet_false_alarms
        out["quiet_hours"] = round(self.quiet_s / 3600, 3)
        out["false_alarms_per_quiet_hour"] = (
            round(self.quiet_false_alarms / (self.quiet_s / 3600), 2) if self.quiet_s > 0 else None
        )
        return out


def _busy(truth: list[TruthEvent], duration: float) -> float:
    """Seconds covered by at least one truth event."""
    spans = sorted((max(0.0, e.t0), min(duration, e.t1)) for e in truth)
    total, end = 0.0, 0.0
    for a, b in spans:
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def single_axes(rec: Recording) -> list[Recording]:
    """Every axis of each multi-axis magnetometer on its own (what a one-axis sensor sees)."""
    out = []
    for ch in rec.channels.values():
        if ch.kind != "magnetometer" or ch.data.shape[1] < 2:
            continue
        for i, comp in enumerate(ch.components):
            one = Channel(
                ch.name, ch.kind, ch.rate, ch.data[:, i : i + 1].copy(), ch.scale,
                None if ch.valid is None else ch.valid.copy(), (comp,), ch.bits, dict(ch.info),
            )
            out.append(Recording({ch.name: one}, rec.truth, rec.start_time, rec.meta))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder holding the prepared data sets")
    parser.add_argument("--split", default="heldout", choices=("dev", "heldout", "all"))
    parser.add_argument("--dataset", action="append", help="only these data sets (folder names)")
    parser.add_argument("--model", help="classifier model (default: packaged)")
    parser.add_argument("--single-axis", action="store_true")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    config = DspConfig()
    model = load_model(args.model)
    results: dict[str, dict[str, Any]] = {}
    for manifest_path in sorted(args.root.glob("*/*/manifest.json")):
        folder = manifest_path.parent
        if args.dataset and folder.name not in args.dataset:
            continue
        manifest = json.loads(manifest_path.read_text())
        tallies: dict[str, Tally] = {folder.name: Tally()}
        for entry in manifest["files"]:
            if args.split != "all" and entry.get("split") != args.split:
                continue
            rec = read_recording(folder / entry["file"])
            variants = [(folder.name, rec)]
            if args.single_axis:
                variants += [(f"{folder.name} (one axis)", r) for r in single_axes(rec)]
            for name, r in variants:
                result = run_detector(r, config, model=model, prime_s=OFFLINE_PRIME_S)
                tallies.setdefault(name, Tally()).add(r, result.detections)
        for name, tally in tallies.items():
            if tally.files:
                results[name] = {"kind": folder.parent.name, **tally.summary()}
    if args.json:
        print(json.dumps({"split": args.split, "model": model.info.get("id"), "sets": results}))
        return 0
    print(f"split {args.split}, model {model.info.get('id')}")
    for name, summary in results.items():
        print(f"\n{name} [{summary['kind']}]: {summary['files']} files, {summary['hours']} h")
        for cls in ("footstep", "vehicle"):
            if cls in summary:
                c = summary[cls]
                print(f"  {cls}: n={c['n']} recall={c['recall']} precision={c['precision']}")
        for label, row in summary["called"].items():
            print(f"  {label} called: {row}")
        print(
            f"  false alarms: {summary['false_alarms']} in {summary['quiet_hours']} h with "
            f"nothing going on ({summary['false_alarms_per_quiet_hour']}/h)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
