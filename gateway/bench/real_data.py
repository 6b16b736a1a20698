"""Score the detector on recordings of real sensors (docs/real-data.md).

The recordings are not in this repository (their licences do not all allow it): each data
set is prepared from a local copy of its public source into a folder of NPZ files with
truth sidecars and a ``manifest.json`` that says which split every file belongs to
(docs/real-data.md says where each comes from and how it is prepared). Point this script at
the folder that holds them:

  .venv/bin/python -m gateway.bench.real_data /data/ugs-real --split heldout
  .venv/bin/python -m gateway.bench.real_data /data/ugs-real --split dev --dataset rdvd_traffic

Every file is analysed as ``ugs-gateway analyze`` would (the detector surveys the start of
the file first) and scored one file at a time, in two views:

- per event (span level, the rule of docs/evaluation.md): Pd and precision per class, what
  each class of event was called, and false alarms per hour of the time no event was going
  on;
- per file ("per clip"): a file holding a detectable footstep (vehicle) event counts as
  found when a footstep (vehicle) detection appears anywhere in it; a file in which a class
  was reported counts as right when it holds an event of that class; a noise-only file
  (``meta.noise_only``) counts as a false alarm when anything at all is reported in it.
  Triggered clips (indoor footstep clips, empty-room clips), whose truth spans were derived
  from the signal itself, are better judged this way.

``--single-axis`` also scores every axis of multi-axis magnetometer files on its own.
``--seismic-rate HZ`` reads every geophone that is sampled faster as a logger at HZ would
(band-limited to HZ/2, as its converter's anti-alias filter does): how detection holds on
a slower unit, such as a 100-Hz seismograph, with the same events.
``--files`` also names the files behind the per-file figures that fall short: each file
whose event was not found, and each noise-only file alarmed, with what was reported in it.
``--quiet-magnetometer`` scores every file without a magnetometer as a unit with one beside
its sensors would have heard it, nothing ferrous about (``hil.clips.beside_quiet_magnetometer``):
how a geophone with a magnetometer names real walks, which no public recording has both for.
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
from drivers.recordings.waveforms import Recording, TruthEvent
from dsp.classifier import load_model
from dsp.config import DspConfig
from gateway.commands.analyze import add_installation_argument
from gateway.commands.eval import detection_json
from hil.analysis import OFFLINE_PRIME_S, as_analysed, run_detector
from hil.clips import beside_quiet_magnetometer, slower_seismic
from hil.scoring import Counts, score

PER_FILE_CLASSES = ("footstep", "vehicle")


@dataclass
class FileTally:
    """The per-file view: whole files found, right, or alarmed (see the module's doc)."""

    with_class: Counter[str] = field(default_factory=Counter)
    """Files holding a detectable event of the class."""
    found: Counter[str] = field(default_factory=Counter)
    """... in which a detection of that class appears."""
    missed_with: dict[str, Counter[str]] = field(default_factory=dict)
    """Class -> each class reported in the files where it was missed, once per file
    (``nothing``: a file with no report at all)."""
    reported_in: Counter[str] = field(default_factory=Counter)
    """Files in which a detection of the class appears."""
    right_in: Counter[str] = field(default_factory=Counter)
    """... that hold an event of that class (detectable or not)."""
    noise_files: int = 0
    noise_files_alarmed: int = 0
    missed_files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Class -> the files where it was missed (``name``, what was ``reported``)."""
    alarmed_files: list[dict[str, Any]] = field(default_factory=list)
    """The noise-only files with a detection, likewise."""

    def add(self, rec: Recording, detections: list[Any], name: str = "") -> None:
        reported = {str(d.cls) for d in detections}
        listed = {"name": name, "reported": [detection_json(d) for d in detections]}
        held = {e.label for e in rec.truth}
        for cls in PER_FILE_CLASSES:
            if any(e.label == cls and e.extra.get("detectable", True) for e in rec.truth):
                self.with_class[cls] += 1
                if cls in reported:
                    self.found[cls] += 1
                else:
                    row = self.missed_with.setdefault(cls, Counter())
                    row.update(sorted(reported) or ["nothing"])
                    self.missed_files.setdefault(cls, []).append(listed)
        for cls in reported:
            self.reported_in[cls] += 1
            if cls in held:
                self.right_in[cls] += 1
        if rec.meta.get("noise_only", False):
            self.noise_files += 1
            self.noise_files_alarmed += bool(detections)
            if detections:
                self.alarmed_files.append(listed)

    def summary(self, files: bool = False) -> dict[str, Any]:
        """The per-file figures; with ``files``, the files each shortfall is made of."""
        out: dict[str, Any] = {}
        for cls in PER_FILE_CLASSES:
            n, r = self.with_class[cls], self.reported_in[cls]
            if not (n or r):
                continue
            out[cls] = {
                "files": n,
                "found": self.found[cls],
                "recall": round(self.found[cls] / n, 3) if n else None,
                "missed_with": dict(sorted(self.missed_with.get(cls, Counter()).items())),
                "reported_in": r,
                "right": self.right_in[cls],
                "precision": round(self.right_in[cls] / r, 3) if r else None,
            }
            if files and n:
                out[cls]["missed_files"] = self.missed_files.get(cls, [])
        if self.noise_files:
            out["noise_only"] = {
                "files": self.noise_files,
                "with_detection": self.noise_files_alarmed,
                "share": round(self.noise_files_alarmed / self.noise_files, 3),
            }
            if files:
                out["noise_only"]["alarmed_files"] = self.alarmed_files
        return out


@dataclass
class Tally:
    counts: Counts = field(default_factory=Counts)
    files: int = 0
    quiet_s: float = 0.0
    """Seconds in which no truth event was going on."""
    quiet_false_alarms: int = 0
    calls: dict[str, Counter[str]] = field(default_factory=dict)
    """Truth label -> what the detector called it (its class, or ``missed``)."""
    per_file: FileTally = field(default_factory=FileTally)

    def add(self, rec: Recording, detections: list[Any], name: str = "") -> None:
        noise_only = bool(rec.meta.get("noise_only", False))
        c = score(rec.truth, detections, rec.duration, noise_only=noise_only)
        self.counts.add(c)
        self.files += 1
        self.quiet_s += rec.duration - _busy(rec.truth, rec.duration)
        self.quiet_false_alarms += sum(c.false_alarms.values())
        for label, row in c.confusion.items():
            if label != "none":
                self.calls.setdefault(label, Counter()).update(row)
        self.per_file.add(rec, detections, name)

    def summary(self, files: bool = False) -> dict[str, Any]:
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
        out["per_file"] = self.per_file.summary(files)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder holding the prepared data sets")
    parser.add_argument("--split", default="heldout", choices=("dev", "heldout", "all"))
    parser.add_argument("--dataset", action="append", help="only these data sets (folder names)")
    parser.add_argument("--model", help="classifier model (default: packaged, --installation)")
    add_installation_argument(parser)
    parser.add_argument("--single-axis", action="store_true")
    parser.add_argument(
        "--seismic-rate",
        type=float,
        metavar="HZ",
        help="read faster geophones as a logger at HZ would (band-limited)",
    )
    parser.add_argument(
        "--quiet-magnetometer",
        action="store_true",
        help="add a magnetometer that feels nothing to every file without one",
    )
    parser.add_argument(
        "--files",
        action="store_true",
        help="name the files where an event was missed or a noise-only file was alarmed",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.seismic_rate is not None and not args.seismic_rate > 0:
        print(f"error: --seismic-rate {args.seismic_rate:g}: give a rate in Hz", file=sys.stderr)
        return 2
    config = DspConfig()
    model = load_model(args.model, args.installation or "ground")
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
            if args.seismic_rate:
                rec = slower_seismic(rec, args.seismic_rate)
            if args.quiet_magnetometer:
                rec = beside_quiet_magnetometer(rec, f"{folder.name}/{entry['file']}")
            variants = [(folder.name, entry["file"], rec)]
            if args.single_axis:
                variants += [
                    (f"{folder.name} (one axis)", f"{entry['file']} {_axis(r)}", r)
                    for r in rec.single_axes()
                ]
            for name, file, r in variants:
                # As analyze runs it: a clip too short to analyse reports nothing.
                analysed = as_analysed(r)
                found = (
                    []
                    if analysed is None
                    else run_detector(
                        analysed, config, model=model, prime_s=OFFLINE_PRIME_S
                    ).detections
                )
                tallies.setdefault(name, Tally()).add(r, found, file)
        for name, tally in tallies.items():
            if tally.files:
                results[name] = {"kind": folder.parent.name, **tally.summary(args.files)}
    if args.json:
        report = {"split": args.split, "model": model.info.get("id"), "sets": results}
        if args.seismic_rate:
            report["seismic_rate_hz"] = args.seismic_rate
        if args.quiet_magnetometer:
            report["quiet_magnetometer"] = True
        print(json.dumps(report))
        return 0
    slower = f", geophones read at {args.seismic_rate:g} Hz" if args.seismic_rate else ""
    if args.quiet_magnetometer:
        slower += ", a quiet magnetometer beside them"
    print(f"split {args.split}, model {model.info.get('id')}{slower}")
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
        for line in per_file_lines(summary["per_file"]):
            # The files behind a figure come indented under it.
            print(f"  {line}" if line.startswith("  ") else f"  per file: {line}")
    return 0


def _axis(rec: Recording) -> str:
    """Which axis a one-axis view of a magnetometer file keeps (``mag1.z``)."""
    return ",".join(f"{ch.name}.{ch.components[0]}" for ch in rec.channels.values())


def per_file_lines(per_file: dict[str, Any]) -> list[str]:
    """The per-file view as text, one line per class and one for the noise-only files."""
    lines = []
    for cls in PER_FILE_CLASSES:
        if cls not in per_file:
            continue
        c = per_file[cls]
        reported = (
            f"reported in {c['reported_in']} files, right in {c['right']} "
            f"(precision {c['precision']})"
        )
        if not c["files"]:
            lines.append(f"{cls} {reported}")
            continue
        line = f"{cls} found in {c['found']}/{c['files']} files (recall {c['recall']}), {reported}"
        if c["missed_with"]:
            line += f"; reported in the missed files: {c['missed_with']}"
        lines.append(line)
        lines += [f"  missed: {_file_line(f)}" for f in c.get("missed_files", [])]
    if "noise_only" in per_file:
        c = per_file["noise_only"]
        lines.append(
            f"noise-only files with a detection: {c['with_detection']}/{c['files']} ({c['share']})"
        )
        lines += [f"  alarmed: {_file_line(f)}" for f in c.get("alarmed_files", [])]
    return lines


def _file_line(listed: dict[str, Any]) -> str:
    said = "; ".join(
        f"{r['class']} {r['conf']:.2f} at {r['t0']:.1f}-{r['t1']:.1f} s" for r in listed["reported"]
    )
    return f"{listed['name']} ({said or 'nothing reported'})"


if __name__ == "__main__":
    sys.exit(main())
