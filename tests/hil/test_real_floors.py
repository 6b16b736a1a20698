"""Real floors as walk tests of other floors: what the floor model learns from besides its
simulated homes (``calibrate --simulate home --real DIR``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dsp.classifier import CLASSES, NOISE
from dsp.config import DspConfig
from gateway.bench.real.common import write_clip, write_manifest
from gateway.cli import main
from hil.analysis import OFFLINE_PRIME_S
from hil.clips import LULL_S, cut, longest_quiet, stopped_sooner
from hil.real_examples import FLOOR_SETS, walk_tests
from hil.scenarios import generate
from hil.site_examples import site_examples

ANCHORS = ["--anchor-minutes", "0.2"]


@pytest.fixture(scope="module")
def floors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three real floors, prepared as ``gateway.bench.real.prepare`` writes them, from
    simulated homes: per set two dev clips of people walking and a held-back file that is
    not a recording at all; the first set also a dev walk its signal never shows and a dev
    clip of dropped keys."""
    root = tmp_path_factory.mktemp("floors")
    rec = generate("home", 300.0, seed=3).only(["seismic"])
    steps = [ev for ev in rec.truth if ev.label == "footstep"]
    for k, name in enumerate(FLOOR_SETS):
        folder = root / "footstep" / name
        folder.mkdir(parents=True)
        files = []
        for i, ev in enumerate(steps[2 * k : 2 * k + 2]):
            write_clip(folder, f"walk{i}.npz", cut(rec, max(0.0, ev.t0 - 1.0), ev.t0 + 12.0))
            files.append({"file": f"walk{i}.npz", "split": "dev"})
        if k == 0:
            clip = cut(rec, max(0.0, steps[-1].t0 - 1.0), steps[-1].t0 + 12.0)
            unheard = [replace(e, extra={**e.extra, "detectable": False}) for e in clip.truth]
            write_clip(folder, "unheard.npz", replace(clip, truth=unheard))
            keys = [replace(e, label="unknown") for e in clip.truth]
            write_clip(folder, "keys.npz", replace(clip, truth=keys))
            files += [{"file": "unheard.npz", "split": "dev"}, {"file": "keys.npz", "split": "dev"}]
        (folder / "heldout.npz").write_bytes(b"not a recording")
        files.append({"file": "heldout.npz", "split": "heldout"})
        write_manifest(folder, {"dataset": name, "repo": "o/r", "commit": "c0ffee", "files": files})
    return root


def test_the_dev_walks_are_read_as_walk_tests_and_nothing_else(floors: Path) -> None:
    recordings, info = walk_tests(floors, FLOOR_SETS)
    # Held-back files are never opened; dropped keys are no pass a technician marks.
    assert [info[name]["files"] for name in FLOOR_SETS] == [3, 2, 2]
    assert info[FLOOR_SETS[0]] == {
        "repository": "o/r",
        "commit": "c0ffee",
        "split": "dev",
        "files": 3,
    }
    unheard = [r for r in recordings if all(e.extra.get("detectable") is False for e in r.truth)]
    assert len(unheard) == 1
    assert all(e.extra.get("dont_care") for e in unheard[0].truth)


def test_a_walk_its_signal_never_shows_is_neither_a_pass_nor_noise(floors: Path) -> None:
    # Whatever the detector finds in it may be the walker or the room: taught as either, it
    # would teach the room's stirrings to be steps, or the walker's to be noise.
    recordings, _ = walk_tests(floors, FLOOR_SETS[:1])
    unheard = next(r for r in recordings if all(e.extra.get("dont_care") for e in r.truth))
    examples = site_examples([unheard], DspConfig(), prime_s=OFFLINE_PRIME_S)
    assert examples.passes == []
    span = unheard.truth[0]
    assert not any(u.t0 < span.t1 and u.t1 > span.t0 for u in examples.units)
    heard = site_examples(
        [replace(unheard, truth=[replace(e, extra={}) for e in unheard.truth])],
        DspConfig(),
        prime_s=OFFLINE_PRIME_S,
    )
    assert [p.label for p in heard.passes] == ["footstep"] and len(heard) > 0


def test_the_floor_model_learns_from_real_floors_and_names_them(
    floors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "floor.json"
    args = ["calibrate", "--simulate", "home", "--simulate-minutes", "10", "--out", str(out)]
    assert main([*args, "--real", str(floors), *ANCHORS]) == 0
    assert "2 simulated recordings, 20 min, and 7 real ones" in capsys.readouterr().out
    info = json.loads(out.read_text())["info"]
    assert info["id"] == "site-home-simulated-10min+real3"
    assert info["real"]["split"] == "dev"
    assert {name: s["files"] for name, s in info["real"]["sets"].items()} == {
        "capstone_piezo": 3,
        "capstone_bno055": 2,
        "jxunn_geoscope": 2,
    }


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--real", "/nonexistent/ugs-real"], "--real goes with --simulate"),
        (
            ["--simulate", "home", "--real", "/nonexistent/ugs-real"],
            "no prepared data set 'capstone_piezo'",
        ),
    ],
)
def test_real_floors_that_cannot_be_read_are_named_before_anything_is_simulated(
    argv: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.json"
    assert main(["calibrate", *argv, "--out", str(out), *ANCHORS]) == 2
    err = capsys.readouterr().err
    assert words in err and "simulating" not in err
    assert not out.exists()


def test_a_pass_that_ended_sooner_is_a_moment_of_it_then_the_background() -> None:
    # A recorder that stops after a while below its trigger keeps a guest who crossed the
    # floor in a stride as that stride and the quiet after it.
    rec = generate("home", 300.0, seed=3).only(["seismic"])
    walk = next(ev for ev in rec.truth if ev.label == "footstep" and ev.t1 - ev.t0 > 5.0)
    quiet = longest_quiet(rec, 2.0)
    assert quiet is not None and not any(ev.overlaps_span(*quiet) for ev in rec.truth)
    assert longest_quiet(rec, rec.duration) is None

    clip = stopped_sooner(rec, walk.t0, walk.t0 + 1.0, quiet)
    got, was = clip.channel("seismic"), rec.channel("seismic")
    background = was.data[round(quiet[0] * was.rate) : round(quiet[1] * was.rate)]
    kept = len(got) - len(background)
    start = round(walk.t0 * was.rate)
    assert 1.0 <= kept / was.rate <= 1.0 + LULL_S
    np.testing.assert_array_equal(got.data[:kept], was.data[start : start + kept])
    np.testing.assert_array_equal(got.data[kept:], background)
    # Joined where the walk came closest to the background's level, so the join is no
    # step of its own.
    level = np.median(background)
    window = was.data[start + round(was.rate) : start + round((1.0 + LULL_S) * was.rate)]
    assert abs(got.data[kept, 0] - level) <= np.abs(window - level).max()
    steps = [ev for ev in clip.truth if ev.label == "footstep"]
    assert [ev.t0 for ev in steps] == [0.0] and steps[0].t1 == pytest.approx(kept / was.rate)


def test_a_model_for_clips_learns_short_clips_of_each_pass_and_of_what_else_set_it_off() -> None:
    rec = generate("indoor", 300.0, seed=3).only(["seismic"])  # walkers, and two knocks
    config = DspConfig()
    plain = site_examples([rec], config, prime_s=OFFLINE_PRIME_S, clips_per_pass=0)
    short = site_examples(
        [rec], config, prime_s=OFFLINE_PRIME_S, clips_per_pass=0, short_clips_per_pass=2
    )
    # The recording teaches what it taught; its short clips teach steps and knocks more.
    np.testing.assert_array_equal(short.x[: len(plain)], plain.x)
    added = short.y[len(plain) :]
    assert CLASSES.index("footstep") in added and NOISE in added
    assert set(short.group[len(plain) :]) <= {p.group for p in short.passes}
    # Without a stretch of background long enough to end a clip with, there are none.
    busy = replace(rec, truth=[*rec.truth, replace(rec.truth[0], t0=0.0, t1=rec.duration)])
    assert len(site_examples([busy], config, prime_s=OFFLINE_PRIME_S, clips_per_pass=0)) == len(
        site_examples(
            [busy], config, prime_s=OFFLINE_PRIME_S, clips_per_pass=0, short_clips_per_pass=2
        )
    )
