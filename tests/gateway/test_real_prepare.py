"""The helpers every real-data preparation shares (gateway/bench/real/common.py).

The preparations themselves read public repositories that are not part of this one; they
are checked against the prepared data, never here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from drivers.errors import InputError
from drivers.recordings import Channel, Recording, TruthEvent, read_recording
from gateway.bench.real.common import (
    Dataset,
    Source,
    clear_folder,
    n_detectable,
    read_manifest,
    split_of,
    write_clip,
    write_manifest,
)


def _nothing(source: Source, folder: Path) -> None:
    """A preparation that writes nothing."""


def dataset(commit: str = "0" * 40, history: tuple[str, ...] = ()) -> Dataset:
    return Dataset("toy", "footstep", "someone/toy", commit, _nothing, history)


def recording() -> Recording:
    ch = Channel("geo1", "seismic", 100.0, np.arange(300.0), 1.0, components=("Z",))
    truth = [
        TruthEvent("footstep", "walker", 0.5, 1.5, 1.0, -1.0, {"detectable": True}),
        TruthEvent("footstep", "walker", 2.0, 2.5, 2.2, -1.0, {"detectable": False}),
    ]
    return Recording({"geo1": ch}, truth, 0.0, {"dataset": "toy", "noise_only": False})


def test_split_of_names_heldout_members() -> None:
    assert split_of("tim", {"tim"}) == "heldout"
    assert split_of("jenny", {"tim"}) == "dev"


def test_a_clip_and_its_truth_read_back(tmp_path: Path) -> None:
    path = write_clip(tmp_path, "a.npz", recording())
    assert path == tmp_path / "a.npz"
    back = read_recording(path)
    assert np.array_equal(back.channel("geo1").data[:, 0], np.arange(300.0))
    assert [e.t0 for e in back.truth] == [0.5, 2.0]
    assert back.meta["dataset"] == "toy"
    assert n_detectable(back.truth) == 1


def test_manifest_is_checked_and_written(tmp_path: Path) -> None:
    write_clip(tmp_path, "a.npz", recording())
    manifest = {"dataset": "toy", "files": [{"file": "a.npz", "split": "dev"}]}
    path = write_manifest(tmp_path, manifest)
    assert path.read_text().endswith("\n")
    assert json.loads(path.read_text()) == manifest == read_manifest(tmp_path)
    with pytest.raises(ValueError, match="split 'test'"):
        write_manifest(tmp_path, {"files": [{"file": "a.npz", "split": "test"}]})
    with pytest.raises(ValueError, match=r"b\.npz: listed but not written"):
        write_manifest(tmp_path, {"files": [{"file": "b.npz", "split": "heldout"}]})


def test_clear_folder_removes_only_recordings_and_truth(tmp_path: Path) -> None:
    folder = tmp_path / "footstep" / "toy"
    clear_folder(folder)
    write_clip(folder, "a.npz", recording())
    (folder / "gapped").mkdir()
    write_clip(folder / "gapped", "a.npz", recording())
    (folder / "README.md").write_text("notes\n")
    clear_folder(folder)
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["README.md"]


def test_source_reads_files_of_a_plain_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "data" / "b").mkdir(parents=True)
    (tmp_path / "data" / "b" / "x.csv").write_text("1,2\n")
    (tmp_path / "data" / "a.csv").write_text("3\n")
    (tmp_path / "data" / "notes.txt").write_text("-\n")
    source = Source.open(tmp_path, dataset())
    assert "not a git checkout" in caplog.text
    assert source.files("data", suffix=".csv") == ["data/a.csv", "data/b/x.csv"]
    assert source.read("data/a.csv") == b"3\n"
    with pytest.raises(InputError, match=r"missing\.csv: cannot read"):
        source.read("data/missing.csv")
    with pytest.raises(InputError, match="no such folder"):
        source.files("nowhere")
    with pytest.raises(InputError, match="no such folder"):
        Source.open(tmp_path / "nowhere", dataset())
    with pytest.raises(InputError, match="history"):
        Source.open(tmp_path, dataset(history=("1" * 40,)))


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_source_checks_the_commit_and_reads_history(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    git("init", "-q")
    (tmp_path / "old.txt").write_text("first\n")
    git("add", "old.txt")
    git("commit", "-q", "-m", "first")
    first = git("rev-parse", "HEAD")
    git("rm", "-q", "old.txt")
    (tmp_path / "new.txt").write_text("second\n")
    git("add", "new.txt")
    git("commit", "-q", "-m", "second")
    head = git("rev-parse", "HEAD")

    with pytest.raises(InputError, match=f"checked out at {head[:12]}.*checkout {first}"):
        Source.open(tmp_path, dataset(first))
    source = Source.open(tmp_path, dataset(head, history=(first,)))
    assert source.head() == head
    assert source.files() == ["new.txt"]
    assert source.read_at(first, "old.txt") == b"first\n"
    with pytest.raises(InputError, match="full clone"):
        source.read_at(first, "nothing.txt")
    # a plain folder inside a work tree is not taken for the repository
    (tmp_path / "sub").mkdir()
    assert Source(tmp_path / "sub", dataset()).head() is None
