"""What every data set's preparation shares: the local source, the output folder, the
recordings with their truth, the splits and the manifest.

A data set is prepared from a *local copy* of its public repository, checked out at the
commit the data set was defined on (``git clone URL DIR && git -C DIR checkout COMMIT``).
:class:`Source` reads that copy: files of the checkout, and, for the few data sets whose
files were deleted later in the repository's history, older blobs through ``git show``.
The recordings are never part of this repository: their licences do not all allow it.

What a prepared data set looks like (read by ``gateway.bench.real_data``)::

    OUT/<kind>/<name>/FILE.npz              the samples (drivers.recordings NPZ layout)
    OUT/<kind>/<name>/FILE.npz.truth.json   the truth sidecar
    OUT/<kind>/<name>/manifest.json         {"dataset", "commit", "split_rule", ...,
                                             "files": [{"file", "split", ...}, ...]}
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from drivers.errors import InputError
from drivers.recordings import Recording, TruthEvent, truth_path, write_recording

log = logging.getLogger(__name__)

Split = Literal["dev", "heldout"]
SPLITS: tuple[Split, ...] = ("dev", "heldout")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Dataset:
    """One data set: where it comes from and how it is written."""

    name: str
    """Folder name under ``OUT/<kind>/``, and the name on the command line."""
    kind: str
    """What it holds: ``footstep``, ``vehicle``, ``pir`` or ``magnetometer``."""
    repository: str
    """``owner/name`` on GitHub."""
    commit: str
    """The commit whose tree is read (the local copy must be checked out there)."""
    prepare: Callable[[Source, Path], None]
    """Reads the source, writes recordings, truth and manifest into the folder."""
    history: tuple[str, ...] = ()
    """Older commits some files are read from (needs a clone with its history)."""

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}"

    def folder(self, out: Path) -> Path:
        return out / self.kind / self.name


class Source:
    """A local checkout of a data set's public repository."""

    def __init__(self, root: Path, dataset: Dataset) -> None:
        self.root = root
        self.dataset = dataset

    @classmethod
    def open(cls, root: Path, dataset: Dataset) -> Source:
        """The checkout at ``root``, checked to be at the data set's commit when it is a git
        work tree (a copy without ``.git`` is taken on trust, with a warning)."""
        if not root.is_dir():
            raise InputError(f"{root}: no such folder (a checkout of {dataset.url})")
        source = cls(root, dataset)
        head = source.head()
        if head is None:
            if dataset.history:
                raise InputError(
                    f"{root}: not a git checkout; {dataset.name} also reads files from the "
                    f"repository's history: git clone {dataset.url} {root}"
                )
            log.warning(
                "%s is not a git checkout: cannot check that it holds commit %s",
                root,
                dataset.commit,
            )
        elif head != dataset.commit:
            raise InputError(
                f"{root} is checked out at {head[:12]}, but {dataset.name} is defined on "
                f"{dataset.commit}: git -C {root} checkout {dataset.commit}"
            )
        return source

    def _git(self, *args: str) -> bytes | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.root), *args], capture_output=True, check=False
            )
        except OSError:
            return None
        return done.stdout if done.returncode == 0 else None

    def head(self) -> str | None:
        """The checked-out commit, or None when ``root`` is not the top of a git work tree."""
        top = self._git("rev-parse", "--show-toplevel")
        if top is None or Path(top.decode().strip()).resolve() != self.root.resolve():
            return None
        head = self._git("rev-parse", "HEAD")
        return None if head is None else head.decode().strip()

    def read(self, path: str) -> bytes:
        """The bytes of a file of the checkout (``path`` relative to the repository)."""
        try:
            return (self.root / path).read_bytes()
        except OSError as exc:
            raise InputError(
                f"{self.root / path}: cannot read ({exc.strerror or exc}); is {self.root} a "
                f"complete checkout of {self.dataset.url} at {self.dataset.commit[:12]}?"
            ) from None

    def read_at(self, commit: str, path: str) -> bytes:
        """A file as it was at an older commit (``git show COMMIT:PATH``)."""
        blob = self._git("show", f"{commit}:{path}")
        if blob is None:
            raise InputError(
                f"{self.root}: cannot read {path} at commit {commit[:12]}; {self.dataset.name} "
                f"needs a full clone of {self.dataset.url} (not a shallow one)"
            )
        return blob

    def files(self, folder: str = "", suffix: str = "") -> list[str]:
        """Paths (relative, ``/``-separated, sorted) of the files under ``folder`` whose
        name ends in ``suffix``; the ``.git`` folder is left out."""
        base = self.root / folder if folder else self.root
        if not base.is_dir():
            raise InputError(
                f"{base}: no such folder; is {self.root} a checkout of {self.dataset.url}?"
            )
        found = []
        for here, dirs, names in os.walk(base):
            dirs[:] = [d for d in dirs if d != ".git"]
            for name in names:
                if name.endswith(suffix):
                    found.append((Path(here) / name).relative_to(self.root).as_posix())
        return sorted(found)


def band_envelope(
    x: npt.NDArray[np.float64], rate: float, band_hz: tuple[float, float], window_s: float
) -> npt.NDArray[np.float64]:
    """RMS per ``window_s`` window of ``x`` band-limited to ``band_hz`` (an FFT mask: offline
    and exact, the upper edge kept under 0.45 of the rate)."""
    spec = np.fft.rfft(x - x.mean())
    f = np.fft.rfftfreq(x.size, 1.0 / rate)
    spec[(f < band_hz[0]) | (f > min(band_hz[1], 0.45 * rate))] = 0.0
    y = np.fft.irfft(spec, n=x.size)
    w = max(1, round(window_s * rate))
    n = y.size // w
    return np.asarray(np.sqrt(np.mean(y[: n * w].reshape(n, w) ** 2, axis=1)))


def burst_span(
    x: npt.NDArray[np.float64],
    rate: float,
    *,
    band_hz: tuple[float, float],
    k: float,
    join_s: float,
    window_s: float = 0.1,
) -> tuple[float, float, float, float]:
    """``(t0, t1, t_peak, peak over background)`` of the one event of a triggered clip, for
    data sets that label whole clips: windows of the band's envelope at least ``k`` x the
    clip's background (its 20th-percentile window), joined across gaps up to ``join_s``;
    the run holding the loudest window is the event."""
    env = band_envelope(x, rate, band_hz, window_s)
    background = max(float(np.percentile(env, 20)), 1e-12)
    peak = int(np.argmax(env))
    above = np.flatnonzero(env >= k * background)
    join = round(join_s / window_s)
    lo = hi = peak
    for i in above[::-1]:
        if i < lo and lo - i <= join:
            lo = int(i)
    for i in above:
        if i > hi and i - hi <= join:
            hi = int(i)
    return (
        lo * window_s,
        (hi + 1) * window_s,
        (peak + 0.5) * window_s,
        float(env[peak] / background),
    )


def split_of(value: str, heldout: Collection[str]) -> Split:
    """``heldout`` when ``value`` (a session, subject, site ...) is one of ``heldout``."""
    return "heldout" if value in heldout else "dev"


def clear_folder(folder: Path) -> None:
    """Create ``folder``, or remove the recordings and truth a previous run left in it (so
    that no file outlives the manifest that lists it). Nothing else is touched."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.rglob("*.npz")) + sorted(folder.rglob("*.npz.truth.json")):
        old.unlink()


def write_clip(folder: Path, name: str, rec: Recording) -> Path:
    """Write one recording as ``folder/name`` (NPZ) and its truth sidecar next to it."""
    path = folder / name
    write_recording(rec, path)
    rec.write_truth(truth_path(path))
    return path


def n_detectable(truth: Iterable[TruthEvent]) -> int:
    """Events whose ``extra.detectable`` is true."""
    return sum(1 for e in truth if e.extra.get("detectable"))


def write_dataset_manifest(
    folder: Path,
    dataset: str,
    repo: str,
    commit: str,
    split_rule: str,
    files: list[dict[str, Any]],
    **extra: Any,
) -> Path:
    """The manifest of a data set of one source: its name, repository, commit and split
    rule, ``extra`` (what was skipped or left out), its files and their events in all."""
    return write_manifest(
        folder,
        {
            "dataset": dataset,
            "repo": repo,
            "commit": commit,
            "split_rule": split_rule,
            **extra,
            "n_files": len(files),
            "n_events": sum(int(f["n_events"]) for f in files),
            "files": files,
        },
    )


def write_manifest(folder: Path, manifest: dict[str, Any], name: str = MANIFEST) -> Path:
    """Write ``manifest`` (one JSON object, ``indent=1``) after checking that it lists files
    that exist, each in one of the splits."""
    problems = []
    for entry in manifest.get("files", []):
        if entry.get("split") not in SPLITS:
            problems.append(f"{entry.get('file')}: split {entry.get('split')!r} not in {SPLITS}")
        if not (folder / str(entry.get("file"))).is_file():
            problems.append(f"{entry.get('file')}: listed but not written")
    if problems:
        raise ValueError(f"{folder / name}: " + "; ".join(problems))
    path = folder / name
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def read_manifest(folder: Path, name: str = MANIFEST) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / name).read_text())
    return manifest
