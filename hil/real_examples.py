"""Labelled examples from the development split of prepared real recordings.

The synthetic world cannot make every real signal: a seismic node by a town's road hears
each car as a few knocks of its axles, and a gravel track's node hears the background of its
own site, and neither is what ``hil`` renders. A prepared real data set
(``gateway.bench.real``, ``docs/real-data.md``) has truth for each file, so its candidates
can be labelled as the scenarios' are and added to the training rows. Only the ``dev``
split is read: the ``heldout`` split is what the model is reported on.

Each file is analysed as ``analyze`` would, and again cut a little shorter at either end
(``RECUTS`` times): a triggered clip's events sit where the recorder put them, and the cuts
teach the same event with another lead-in. A multi-axis magnetometer's file also teaches
each of its axes alone, and, when asked (``seismic_also_at_hz``), a geophone's file its
reading by a slower logger (a 100-Hz seismograph hears the same steps and cars without
their upper band). A stretch the truth marks ``dont_care`` (energy no tracked pass
explains) teaches nothing, and neither does an event the file's label names but its signal
never shows (``detectable`` false: a walk whose steps never rise above the room's floor).
A file holds one sensor and teaches that sensor's own booster; a geophone's walks and quiet
also teach the booster of a geophone with a magnetometer beside it, whose magnetometer
feels nothing of them (``with_silent_magnetometer``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import InputError
from drivers.recordings import Recording, TruthEvent, read_recording
from dsp.classifier import CLASSES, FEATURES
from dsp.config import DspConfig
from hil.analysis import OFFLINE_PRIME_S, per_file_notes_quiet
from hil.clips import cut, slower_seismic
from hil.marks import PASSES
from hil.training_data import labelled_candidates

TRAINING_SETS: dict[str, float] = {
    "mlmsa-nodes": 3.0,
    "xtech-goodvibes": 3.0,
    "jxunn_geoscope": 3.0,
    "benes-pirstd": 3.0,
    "ipir-lvq": 3.0,
    "geosense_geophones": 3.0,
}
"""The real data sets the packaged model learns from (their dev splits), and how many
rendered rows one of their rows weighs: the real rows are a few thousand among tens of
thousands, and each is worth more than a rendered one. The unit's own kinds, where the
synthetic world falls shortest: urban and gravel-road passes heard by seismic nodes, and
footsteps with empty rooms on an indoor geophone, so that what teaches a road's knocks to
be vehicles also sees real steps; walks past geophones outdoors, on a ground that rings
through the gaps between steps and in shoes whose steps are sharp knocks with little beat
(the synthetic walkers' steps are softer and more regular); and two analog PIRs, crossings
with empty rooms and half an hour of a room with people coming and going, for the PIR on
its own (a file holds one sensor, so each set teaches that sensor's own booster). The
floor piezo and accelerometer clips of capstone are left out: they are other sensors, and
their steps taught roadside knocks to be footsteps. The magnetometer sets are left out
too: every pass of theirs that the magnetometer's chain finds is named already, and the
rest never become candidates (docs/real-data.md, "Learning from the dev splits", has the
folds and what the held-back split said)."""

FLOOR_SETS = ("capstone_piezo", "capstone_bno055", "jxunn_geoscope")
"""The real floors the floor model learns from (``calibrate --simulate home --real DIR``),
their dev splits as walk tests of other floors: a piezo disc and an accelerometer taped to
floors (guests at public demos, labelled walks) and an indoor geophone with its empty
rooms. Left out of the packaged model (above), they are the floor model's own kind."""

DEFAULT_WEIGHT = 3.0
"""The weight of a set named without one (``train --real-sets NAME``)."""

RECUTS = 3
"""Shorter cuts of each file, besides the file itself."""

TRIM_START_S = (0.0, 1.0)
TRIM_END_S = (0.0, 1.5)
MIN_CUT_S = 3.0
TRIM_SHARE = 0.15
"""A cut drops up to ``TRIM_START_S`` at the start and ``TRIM_END_S`` at the end, never more
than ``TRIM_SHARE`` of the file at either end, and is kept if ``MIN_CUT_S`` remain."""

SPLIT = "dev"


@dataclass
class RealExamples:
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    weight: npt.NDArray[np.float64]
    """How many rendered rows each row weighs (its data set's weight)."""
    file: npt.NDArray[np.int64]
    """Index of the file each row came from (for the calibration split)."""
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per data set: its repository, commit, split, files, rows and weight (for the model's
    info)."""

    def __len__(self) -> int:
        return int(self.y.size)


def parse_sets(text: str) -> dict[str, float]:
    """``NAME[=WEIGHT],...`` as the data sets to read and their weights."""
    sets: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, weight = item.partition("=")
        try:
            value = float(weight) if weight else DEFAULT_WEIGHT
        except ValueError:
            value = -1.0
        if not name.strip() or not 0.0 < value <= 100.0:
            raise InputError(f"{item!r}: name a data set as NAME or NAME=W, W above 0 and <= 100")
        sets[name.strip()] = value
    if not sets:
        raise InputError("no data set named")
    return sets


def manifest_of(root: Path, name: str) -> tuple[Path, dict[str, Any]]:
    """The folder and manifest of the prepared data set ``name`` under ``root``."""
    found = sorted(root.glob(f"*/{name}/manifest.json"))
    if not found:
        raise InputError(
            f"{root}: no prepared data set {name!r} (prepare it with "
            f"python -m gateway.bench.real.prepare {name} --source CHECKOUT --out {root})"
        )
    try:
        manifest: dict[str, Any] = json.loads(found[0].read_text())
        files = manifest["files"]
        if not isinstance(files, list):
            raise TypeError("files is not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{found[0]}: not a data set manifest ({exc}): prepare it again") from None
    return found[0].parent, manifest


def dev_files(root: Path, name: str) -> tuple[dict[str, Any], Iterator[tuple[str, Recording]]]:
    """The manifest of the prepared data set ``name`` under ``root``, and its dev files (name
    and recording, read one at a time as they are asked for: a set's dev split can be a
    hundred megabytes), each event its signal never shows ``dont_care``. The held-back
    files are not opened."""
    folder, manifest = manifest_of(root, name)
    names = [str(e["file"]) for e in manifest["files"] if e.get("split") == SPLIT]
    if not names:
        raise InputError(f"{folder}: no {SPLIT} files in its manifest: prepare it again")

    def read() -> Iterator[tuple[str, Recording]]:
        for file in names:
            try:
                rec = read_recording(folder / file)
            except (OSError, KeyError, ValueError, InputError) as exc:
                raise InputError(f"{folder}: {exc}: prepare the data set again") from None
            rec.truth = unheard_as_dont_care(rec.truth)
            yield file, rec

    return manifest, read()


def source_of(manifest: dict[str, Any], files: int) -> dict[str, Any]:
    """Where a data set's rows came from, for a model's info."""
    return {
        "repository": manifest.get("repo", manifest.get("repository", "")),
        "commit": manifest.get("commit", ""),
        "split": SPLIT,
        "files": files,
    }


def unheard_as_dont_care(truth: list[TruthEvent]) -> list[TruthEvent]:
    """``truth`` with each event its own signal never shows marked ``dont_care``. The set's
    label says someone walked; its truth found no moment that stands out of the background,
    so the span is a guess, and what the detector finds in it may be the walker or the
    room. Taught as a footstep, it teaches the room's own stirrings to be steps (in
    jxunn_geoscope such walks reach 2.8 x their background at most, the empty rooms 2.2 x).
    """
    return [
        replace(ev, extra={**ev.extra, "dont_care": True})
        if ev.extra.get("detectable") is False
        else ev
        for ev in truth
    ]


def recuts(rec: Recording, key: str) -> list[Recording]:
    """The recording, and ``RECUTS`` shorter cuts of it (the same ones for the same file)."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    out = [rec]
    for _ in range(RECUTS):
        a = float(rng.uniform(*TRIM_START_S)) * min(1.0, TRIM_SHARE * rec.duration)
        b = rec.duration - float(rng.uniform(*TRIM_END_S)) * min(1.0, TRIM_SHARE * rec.duration)
        if b - a >= MIN_CUT_S:
            out.append(cut(rec, a, b))
    return out


def views(rec: Recording, key: str, seismic_also_at_hz: float | None = None) -> list[Recording]:
    """What one file teaches: the file and its cuts, and the same for each axis of a
    multi-axis magnetometer on its own, as a one-axis sensor in its place would have seen
    the same passes (many roadside magnetometers have a single axis); with
    ``seismic_also_at_hz``, the same for its geophones read at that rate (band-limited, as a
    slower unit's converter reads them) when they are sampled at least twice as fast."""
    out = recuts(rec, key)
    for axis, one in enumerate(rec.single_axes()):
        out += recuts(one, f"{key}/axis{axis}")
    slow_hz = seismic_also_at_hz
    if slow_hz and any(
        ch.kind == "seismic" and ch.rate >= 2.0 * slow_hz for ch in rec.channels.values()
    ):
        out += recuts(slower_seismic(rec, slow_hz), f"{key}/{slow_hz:g}hz")
    return out


def real_examples(
    root: Path,
    sets: dict[str, float] | None = None,
    config: DspConfig | None = None,
    seismic_also_at_hz: float | None = None,
) -> RealExamples:
    """Labelled rows of the ``dev`` files of the prepared data sets ``sets`` (name -> weight,
    default ``TRAINING_SETS``) under ``root``; with ``seismic_also_at_hz``, each geophone
    file read at that rate too (``views``)."""
    sets = TRAINING_SETS if sets is None else sets
    config = config or DspConfig()
    with per_file_notes_quiet():
        return _read_sets(root, sets, config, seismic_also_at_hz)


def _read_sets(
    root: Path, sets: dict[str, float], config: DspConfig, seismic_also_at_hz: float | None
) -> RealExamples:
    rows: list[list[float]] = []
    taught: list[int] = []
    weights: list[float] = []
    index: list[int] = []
    info: dict[str, dict[str, Any]] = {}
    n_files = 0
    for name, weight in sets.items():
        manifest, files = dev_files(root, name)
        before = len(taught)
        read = 0
        for file, rec in files:
            read += 1
            for clip in views(rec, f"{name}/{file}", seismic_also_at_hz):
                vectors, y = labelled_candidates(clip, config, OFFLINE_PRIME_S)
                vectors, y = with_silent_magnetometer(vectors, y)
                rows += [[v[f] for f in FEATURES] for v in vectors]
                taught += y
                index += [n_files] * len(y)
            n_files += 1
        weights += [weight] * (len(taught) - before)
        info[name] = {
            **source_of(manifest, read),
            "rows": len(taught) - before,
            "weight": weight,
        }
    x = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
    return RealExamples(
        x,
        np.asarray(taught, dtype=np.int64),
        np.asarray(weights, dtype=np.float64),
        np.asarray(index, dtype=np.int64),
        info,
    )


SILENT_MAGNETOMETER = ("noise", "footstep")
"""Classes of a real geophone's rows that are taught again as a unit with a magnetometer
beside the geophone would have seen them: the same rows, the magnetometer live and silent.
People and an empty place move no iron it can feel; a vehicle near enough for the geophone
to hear may well be near enough for it, so vehicles are not. (A real PIR's rows taught so
cost the PIR-with-magnetometer unit people on the dev seeds: they are not.)"""


def with_silent_magnetometer(
    vectors: list[dict[str, float]], taught: list[int]
) -> tuple[list[dict[str, float]], list[int]]:
    """``vectors`` and their labels, and for each row of a geophone alone whose class is in
    ``SILENT_MAGNETOMETER`` the same row with ``mag_live`` set: the booster of a geophone
    with a magnetometer learns real walks and real quiet too, not only the lone
    geophone's."""
    keep = {CLASSES.index(c) for c in SILENT_MAGNETOMETER}
    extra_v: list[dict[str, float]] = []
    extra_y: list[int] = []
    for v, y in zip(vectors, taught, strict=True):
        if y in keep and v["seis_live"] and not (v["pir_live"] or v["mag_live"]):
            extra_v.append({**v, "mag_live": 1.0})
            extra_y.append(y)
    return vectors + extra_v, taught + extra_y


MARKED = frozenset(label for label, _ in PASSES.values())
"""Truth labels a walk test's marks stand for."""


def marked_as_passes(rec: Recording) -> bool:
    """Whether a technician could have marked every event of ``rec`` as a pass (people and
    vehicles; stretches nobody can explain aside): a clip of dropped keys is no part of a
    walk test."""
    return all(ev.label in MARKED for ev in rec.truth if not ev.extra.get("dont_care"))


def walk_tests(root: Path, names: Sequence[str]) -> tuple[list[Recording], dict[str, Any]]:
    """The dev files of the prepared data sets ``names`` under ``root`` as walk-test
    recordings (their truth events the marked passes, a walk its signal never shows
    ``dont_care``; files holding an event nobody marks are left out), and what was read of
    each set (for the model's info)."""
    recordings: list[Recording] = []
    info: dict[str, Any] = {}
    for name in names:
        manifest, files = dev_files(root, name)
        walks = [rec for _, rec in files if marked_as_passes(rec)]
        recordings += walks
        info[name] = source_of(manifest, len(walks))
    return recordings, info
