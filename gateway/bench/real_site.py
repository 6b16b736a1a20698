"""Site calibration on real recordings: what a walk test on one installation teaches the
packaged model, scored on that installation's other recordings (docs/calibration.md).

A data set's dev split stands in for the walk test: each of its files is a recording whose
truth events are the marked passes (for triggered clips, spans derived from the signal;
files holding events of other kinds, a dropped phone say, are left out: nobody marks those).
The site model is made from it as ``ugs-gateway calibrate`` makes one (the packaged model
as prior, anchors simulated from the training scenarios of the unit's installation, passes
left out to choose and to score; with ``--installation floor`` the floor model such a unit
runs is a prior as well, and the better site model is kept), and the packaged and the site
model (and the floor model, which the site model must also beat in cross-validation) are
then scored on the held-back split,
file by file as ``gateway.bench.real_data`` scores them, **per session**. A held-back
split may hold recordings of other installations (another floor, another rate): a walk
test says nothing about those, and the sessions keep them apart.

  .venv/bin/python -m gateway.bench.real_site /data/ugs-real --dataset capstone_piezo \
      --installation floor

A few minutes (the anchors are most of it). Use it on data sets whose dev and held-back
splits share an installation; it is not a way to score the packaged model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import RecordingError
from drivers.recordings import read_recording
from drivers.recordings.waveforms import Recording
from dsp.classifier import Model, ModelError, configured_model, load_model
from dsp.config import ClassifierDspConfig, DspConfig
from gateway.bench.real.common import MANIFEST, read_manifest
from gateway.bench.real_data import Tally, per_file_lines
from hil.analysis import OFFLINE_PRIME_S, run_detector, usability
from hil.real_examples import marked_as_passes
from hil.site_calibration import (
    Calibration,
    anchor_examples,
    calibrate_from,
    installation_anchors,
)
from hil.site_examples import site_examples

AnchorRows = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]
"""What ``anchor_examples`` gives: feature rows and their labels."""


def split_files(folder: Path, split: str) -> list[Recording]:
    """The recordings of one split of a prepared data set, in manifest order."""
    return [
        read_recording(folder / entry["file"])
        for entry in read_manifest(folder)["files"]
        if entry.get("split") == split
    ]


def first_minutes(recordings: list[Recording], minutes: float | None) -> list[Recording]:
    """The recordings in order until ``minutes`` of them are taken (all when None): how
    long a walk test has to be."""
    if minutes is None:
        return recordings
    out: list[Recording] = []
    total = 0.0
    for rec in recordings:
        if total >= 60.0 * minutes:
            break
        out.append(rec)
        total += rec.duration
    return out


def site_model(
    walk: list[Recording],
    config: DspConfig,
    prior: Model,
    anchors: AnchorRows | None,
    installed: Model | None = None,
) -> tuple[str, dict[str, Calibration]] | None:
    """The site models a walk test of these recordings gives (analysed as files are), by
    the prior each starts from, and which of them ``calibrate`` keeps: the packaged
    ``prior``'s, and with an ``installed`` model (a floor unit's floor model) that one's as
    well, each refused where it does worse than either. None when no sensor rose in any of
    the walk test's passes: nothing to learn from."""
    examples = site_examples(walk, config, prime_s=OFFLINE_PRIME_S)
    if not any(p.signal for p in examples.passes):
        return None
    priors = {"packaged model": prior}
    if installed is not None:
        priors[f"{config.classifier.installation} model"] = installed
    durations = [r.duration for r in walk]
    return calibrate_from(priors, examples, config, durations, anchors=anchors)


def by_session(
    recordings: list[Recording], models: dict[str, Model], config: DspConfig
) -> dict[str, dict[str, Any]]:
    """Per session: files, how many of them cannot be analysed (``hil.analysis.usability``:
    too short, say; left out, as no model can say anything of them), and each model's
    tally of the others."""
    out: dict[str, dict[str, Any]] = {}
    tallies: dict[str, dict[str, Tally]] = {}
    for rec in recordings:
        session = str(rec.meta.get("session", "-"))
        row = out.setdefault(session, {"files": 0, "cannot_analyse": 0})
        row["files"] += 1
        if usability(rec):
            row["cannot_analyse"] += 1
            continue
        for name, model in models.items():
            found = run_detector(rec, config, model=model, prime_s=OFFLINE_PRIME_S).detections
            tallies.setdefault(session, {}).setdefault(name, Tally()).add(rec, found)
    for session, per_model in tallies.items():
        for name, tally in per_model.items():
            out[session][name] = tally.summary()
    return out


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder holding the prepared data sets")
    parser.add_argument("--dataset", action="append", required=True, help="data set (folder name)")
    parser.add_argument("--anchor-minutes", type=float, default=10.0)
    parser.add_argument(
        "--installation",
        choices=("ground", "floor"),
        default="ground",
        help="where the unit stands ([dsp.classifier] installation): which scenarios anchor "
        "the site model, and on a floor the floor model it must beat (default ground)",
    )
    parser.add_argument(
        "--floor-model",
        type=Path,
        metavar="FILE",
        help="with --installation floor: the floor model the unit runs, in place of the "
        "packaged one (one made without the data set, for a floor it never learnt)",
    )
    parser.add_argument(
        "--walk-minutes",
        type=float,
        metavar="M",
        help="take only the dev split's first M minutes (files in manifest order) as the walk test",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser.parse_args(argv)


class _UnusableError(Exception):
    """A data set or model that cannot be used: the message, and exit 2."""


def _read_splits(
    root: Path, names: list[str]
) -> dict[str, tuple[list[Recording], list[Recording]]]:
    """Each data set's dev and held-back files, every one read before the anchors are
    simulated: a broken data set is named at once."""
    splits = {}
    for name in names:
        found = sorted(p.parent for p in root.glob(f"*/{name}/{MANIFEST}"))
        if not found:
            raise _UnusableError(f"{name}: no prepared data set under {root}")
        try:
            splits[name] = (split_files(found[0], "dev"), split_files(found[0], "heldout"))
        except (OSError, ValueError, KeyError, RecordingError) as exc:
            raise _UnusableError(f"{name}: cannot be read ({exc}); prepare it again") from None
    return splits


def _installed_model(args: argparse.Namespace, config: DspConfig) -> Model | None:
    """The model a unit of this installation runs before its walk test (None on the
    ground, where that is the packaged one): the packaged floor model, or ``--floor-model``."""
    if args.installation == "ground":
        return None
    # A floor model made without the data set stands for a floor it never learnt.
    try:
        installed = (
            load_model(args.floor_model)
            if args.floor_model
            else configured_model(config.classifier)
        )
    except ModelError as exc:
        raise _UnusableError(f"--floor-model: {exc}") from None
    learnt = sorted(set(args.dataset) & set((installed.info.get("real") or {}).get("sets", {})))
    if learnt:
        print(
            f"note: the {args.installation} model {installed.name} learnt the dev split of "
            f"{', '.join(learnt)}: its score on that walk test is no cross-validation, and "
            "a site model taught from it has seen the walk test twice (--floor-model FILE: "
            "one made without the data set, for a floor it never learnt)",
            file=sys.stderr,
        )
    return installed


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    config = DspConfig(classifier=ClassifierDspConfig(installation=args.installation))
    try:
        splits = _read_splits(args.root, args.dataset)
        installed = _installed_model(args, config)
    except _UnusableError as exc:
        print(exc, file=sys.stderr)
        return 2
    prior = load_model(None)
    minutes = args.anchor_minutes
    scenarios = installation_anchors(args.installation)
    anchors = (
        anchor_examples(config, duration_s=60.0 * minutes, scenarios=scenarios)
        if minutes > 0
        else None
    )
    report: dict[str, Any] = {}
    for name, (dev, heldout) in splits.items():
        markable = [r for r in dev if marked_as_passes(r)]
        walk = first_minutes(markable, args.walk_minutes)
        made = site_model(walk, config, prior, anchors, installed)
        if made is None:
            print(
                f"{name}: no pass in its dev split that a sensor saw: nothing to learn from",
                file=sys.stderr,
            )
            return 2
        kept, results = made
        result = results[kept]
        models = {"packaged": prior}
        cross_validated = {"packaged": results["packaged model"].before.to_json()}
        if installed is not None:
            models[args.installation] = installed
            cross_validated[args.installation] = results[
                f"{args.installation} model"
            ].before.to_json()
        models["site"] = result.model
        cross_validated["site"] = result.after.to_json()
        report[name] = {
            "installation": args.installation,
            "anchors": list(scenarios),
            "walk_test": {
                "files": len(walk),
                "minutes": round(sum(r.duration for r in walk) / 60, 1),
            },
            "cross_validated": cross_validated,
            "site_from": kept,
            "site_models": {
                n: {"after": r.after.to_json(), "accepted": r.accepted} for n, r in results.items()
            },
            "accepted": result.accepted,
            "refused_because": result.reasons,
            "heldout": by_session(heldout, models, config),
        }
    if args.json:
        print(json.dumps(report))
    else:
        _print_text(report)
    return 0


def _print_text(report: dict[str, Any]) -> None:
    for name, r in report.items():
        w = r["walk_test"]
        cv = r["cross_validated"]
        verdict = "accepted" if r["accepted"] else "refused: " + "; ".join(r["refused_because"])
        print(
            f"{name}: walk test = dev split, {w['files']} files, {w['minutes']} min; "
            f"site model (from the {r['site_from']}) {verdict}"
        )
        print(f"  anchors: {', '.join(r['anchors'])}")
        if len(r["site_models"]) > 1:
            for prior, made in r["site_models"].items():
                said = "accepted" if made["accepted"] else "refused"
                print(f"  site model from the {prior}: {said}, {made['after']}")
        for i, (model, score) in enumerate(cv.items()):
            lead = "  cross-validated on the walk test:" if i == 0 else ""
            print(f"{lead:36s}{model:8s} {score}")
        for session, row in r["heldout"].items():
            print(
                f"  held-back session {session}: {row['files']} files "
                f"({row['cannot_analyse']} that cannot be analysed, left out)"
            )
            for model in cv:
                if model not in row:
                    continue
                for line in per_file_lines(row[model]["per_file"]):
                    print(f"    {model:8s} {line}")


if __name__ == "__main__":
    sys.exit(main())
