"""Train the detector's classifier from simulated, labelled recordings.

Generates every scenario (``ugs-gateway simulate --list``) for each training seed, most of
them through a random unit (rates, ground, transducer, converters), runs the streaming
detector over it and over triggered clips cut from it, labels each event it finds by the
ground truth (footstep, vehicle, unknown, or noise when nothing was there) for every subset
of the sensor kinds, and fits one gradient-boosted tree ensemble per sensor set. The number
of rounds and a temperature that calibrates the confidences are chosen on every fifth
recording, held back from the fit. The same seeds, duration and [dsp] settings give the same
file, byte for byte, on the same kind of CPU: the geophone's resampler sums in SIMD lanes,
so another CPU may round a feature's last bits otherwise and the fit may stop a few rounds
apart (docs/dsp.md).

With ``--real DIR`` (prepared real data sets, ``docs/real-data.md``) the ``dev`` files of
``hil.real_examples.TRAINING_SETS`` are labelled by their truth and added, each row weighing
as many rendered ones as its set's weight; one file in five of them joins the calibration
rows. The ``heldout`` files are never read: they are what the model is reported on.
``--real-seismic-hz HZ`` also teaches each real geophone file as a logger at HZ would have
read it (for fleets of slower seismographs; docs/real-data.md, "Read at a slower rate").

``--refit SET,... --base MODEL`` fits only the boosters of those sensor sets and keeps every
other booster of MODEL as it is (a change that concerns one set need not move the others,
which a full retrain on other code or another CPU may); the model's ``info.refit`` names
the sets and MODEL's id and hash. MODEL must have been made with the same [dsp] settings.

Never evaluate on training seeds: the packaged model was trained on seeds 1000-1015;
``eval`` and the benchmarks use seeds from 9000 up.

Example (what made dsp/model.json, from the data sets prepared as docs/real-data.md says;
docs/dsp.md, "Training", says which of its boosters each step made):
  ugs-gateway train --seeds 1000-1015 --duration 1200 --real /data/ugs-real --out dsp/model.json
  ugs-gateway train --seeds 1000-1015 --duration 1200 --real /data/ugs-real \
      --refit seismic+magnetometer --base dsp/model.json --out dsp/model.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsp.classifier import Model
    from dsp.config import DspConfig
    from hil.real_examples import RealExamples

NAME = "train"
HELP = "train the classifier from simulated recordings (deterministic)"
ORDER = 47

CALIBRATION_EVERY = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="FILE", help="model file to write")
    parser.add_argument(
        "--seeds", default="1000-1011", metavar="A-B|A,B", help="training seeds (default 1000-1011)"
    )
    parser.add_argument(
        "--duration", type=float, default=1200.0, metavar="S", help="seconds per recording"
    )
    parser.add_argument(
        "--scenarios", metavar="NAME[,NAME...]", help="scenarios to use (default: all)"
    )
    parser.add_argument("-c", "--config", metavar="CONFIG", help="take [dsp] from this config")
    parser.add_argument(
        "--depth", type=int, default=3, metavar="N", help="depth of each tree (default 3)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=300,
        metavar="N",
        help="most boosting rounds (the best on held-back recordings are kept; default 300)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="processes to simulate and analyse with (default: one per core); the model "
        "does not depend on it",
    )
    parser.add_argument(
        "--real",
        metavar="DIR",
        help="also learn from the dev split of the real data sets prepared under DIR "
        "(docs/real-data.md)",
    )
    parser.add_argument(
        "--real-sets",
        metavar="NAME[=W],...",
        help="which prepared data sets --real reads, and how many rendered rows one of their "
        "rows weighs (default: hil.real_examples.TRAINING_SETS; W 3 when not given)",
    )
    parser.add_argument(
        "--real-seismic-hz",
        type=float,
        metavar="HZ",
        help="with --real: also teach each real geophone file sampled at least twice as fast "
        "as a logger at HZ would read it (band-limited), for units that sample slower",
    )
    parser.add_argument(
        "--refit",
        metavar="SET[,SET...]",
        help="fit only these sensor sets' boosters (kinds joined by '+', e.g. "
        "seismic+magnetometer) and keep every other booster of --base as it is",
    )
    parser.add_argument(
        "--base", metavar="MODEL", help="with --refit: the model whose other boosters are kept"
    )
    parser.add_argument(
        "--save-examples",
        metavar="FILE.npz",
        help="also write the labelled feature vectors (x, y, recording index, feature names)",
    )
    parser.add_argument(
        "--from-examples",
        metavar="FILE.npz",
        help="fit on vectors saved by --save-examples instead of simulating them again "
        "(their seeds and scenarios; features the detector no longer has are dropped)",
    )


def load_examples(path: str) -> tuple[Any, list[int], tuple[str, ...]]:
    """Examples saved by ``--save-examples``, with their seeds and scenarios."""
    import numpy as np

    from dsp.classifier import CLASSES, FEATURES
    from gateway.errors import InputError
    from hil.training_data import Examples

    try:
        with np.load(path, allow_pickle=False) as npz:
            names = [str(f) for f in npz["features"]]
            missing = [f for f in FEATURES if f not in names]
            if missing or [str(c) for c in npz["classes"]] != list(CLASSES):
                raise InputError(f"{path}: saved without features {missing}: simulate again")
            x = npz["x"][:, [names.index(f) for f in FEATURES]]
            examples = Examples(x, npz["y"], npz["group"])
            seeds = [int(s) for s in npz["seeds"]]
            scenarios = tuple(str(s) for s in npz["scenarios"])
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: not a file of saved examples ({exc})") from None
    return examples, seeds, scenarios


def load_real(args: argparse.Namespace, config: DspConfig) -> RealExamples | None:
    """The real data sets' labelled dev rows, or None without ``--real`` (read before
    anything is simulated: a missing data set fails at once)."""
    from gateway.errors import InputError
    from hil.real_examples import parse_sets, real_examples

    if not args.real:
        if args.real_sets or args.real_seismic_hz is not None:
            raise InputError("--real-sets and --real-seismic-hz need --real DIR")
        return None
    slow_hz = args.real_seismic_hz
    if slow_hz is not None and not 5.0 <= slow_hz <= 10000.0:
        raise InputError(f"--real-seismic-hz {slow_hz:g}: give a rate from 5 to 10000 Hz")
    sets = parse_sets(args.real_sets) if args.real_sets else None
    return real_examples(Path(args.real), sets, config, slow_hz)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from dsp.classifier import CLASSES, FEATURES
    from dsp.training import BoostParams, train_model
    from gateway.commands.analyze import announce_compiling, load_dsp_config
    from gateway.commands.eval import parse_seeds
    from gateway.commands.output import write_whole
    from gateway.errors import InputError
    from hil.scenarios import GENERATOR_VERSION, SCENARIOS
    from hil.training_data import (
        CLIPS_PER_RECORDING,
        SITE_EVERY,
        TRAIN_SCENARIOS,
        collect,
        plan_for,
    )

    seeds = parse_seeds(args.seeds)
    scenarios = (
        tuple(n.strip() for n in args.scenarios.split(",") if n.strip())
        if args.scenarios
        else TRAIN_SCENARIOS
    )
    unknown = [n for n in scenarios if n not in SCENARIOS]
    if unknown:
        raise InputError(f"unknown scenario {', '.join(unknown)}")
    if not 60.0 <= args.duration <= 86400.0:
        raise InputError("--duration must be between 60 and 86400 s")
    if not (1 <= args.depth <= 6 and 1 <= args.rounds <= 2000):
        raise InputError("--depth must be 1-6 and --rounds 1-2000")
    config = load_dsp_config(args.config)
    refit, base = load_refit(args, config)
    plan = plan_for(seeds, scenarios)
    announce_compiling()
    real = load_real(args, config)
    started = time.monotonic()

    def progress(i: int, scenario: str, seed: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{i + 1}/{len(plan)} {scenario}/{seed}          ")
            sys.stderr.flush()

    if args.from_examples:
        examples, seeds, scenarios = load_examples(args.from_examples)
        plan = plan_for(seeds, scenarios)
    else:
        jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
        examples = collect(plan, args.duration, config, progress, jobs=jobs)
        if sys.stderr.isatty():
            sys.stderr.write("\n")
    if args.save_examples:
        save_examples(args.save_examples, examples, seeds, scenarios)
    counts = np.bincount(examples.y, minlength=len(CLASSES))
    if len(examples) == 0 or np.count_nonzero(counts) < 2:
        raise InputError("too few labelled events to train on: more seeds or a longer --duration")
    calibrate = calibration_rows(examples.group, plan, seeds, scenarios)
    x, y, weight = examples.x, examples.y, np.ones(len(examples))
    if real is not None:
        # One real file in five joins the calibration rows, as one recording in five does.
        x = np.vstack([x, real.x])
        y = np.concatenate([y, real.y])
        weight = np.concatenate([weight, real.weight])
        held_files = real.file % CALIBRATION_EVERY == CALIBRATION_EVERY - 1
        calibrate = np.concatenate([calibrate, held_files])
    info = {
        "id": f"gbt-{len(seeds)}x{len(scenarios)}x{args.duration:g}s-seeds{seeds[0]}-{seeds[-1]}"
        # How many real data sets it learnt from: two models on the same seeds stay apart.
        + (f"+real{len(real.sets)}" if real is not None else "")
        + (f"-seismic{args.real_seismic_hz:g}hz" if args.real_seismic_hz else ""),
        "generator": GENERATOR_VERSION,
        "seeds": seeds,
        "scenarios": list(scenarios),
        "duration_s": args.duration,
        "examples": {cls: int(n) for cls, n in zip(CLASSES, counts, strict=True)},
        "sites": f"a random site for 2 recordings in {SITE_EVERY} (hil.training_data)",
        "clips_per_recording": CLIPS_PER_RECORDING,
        "dsp_config": config.model_dump(mode="json"),
    }
    if real is not None:
        info["real"] = {"split": "dev", "sets": real.sets}
        if args.real_seismic_hz:
            info["real"]["seismic_also_at_hz"] = args.real_seismic_hz
    params = BoostParams(max_rounds=args.rounds, depth=args.depth)
    model = train_model(
        x, y, FEATURES, calibrate, params=params, info=info, row_weight=weight, only=refit
    )
    if base is not None:
        model = refitted(base, model, refit or [])
    text = json.dumps(model.to_json(), indent=1, sort_keys=True) + "\n"
    write_whole(Path(args.out), text)  # a full disk keeps the model that was there
    print(json.dumps(summary(args.out, model, round(time.monotonic() - started, 1))))
    return 0


def load_refit(
    args: argparse.Namespace, config: DspConfig
) -> tuple[list[tuple[str, ...]] | None, Model | None]:
    """The sensor sets ``--refit`` names and the ``--base`` model whose other boosters are
    kept, checked before anything is simulated; (None, None) without them."""
    from dsp.classifier import FEATURES, KIND_PREFIX, ModelError, load_model
    from gateway.errors import InputError

    if args.refit is None and args.base is None:
        return None, None
    if args.refit is None or args.base is None:
        raise InputError("--refit and --base go together: the sets to fit, the model to keep")
    sets: list[tuple[str, ...]] = []
    for part in args.refit.split(","):
        kinds = [k.strip() for k in part.split("+")]
        if (
            not part.strip()
            or any(k not in KIND_PREFIX for k in kinds)
            or len(set(kinds)) < len(kinds)
        ):
            raise InputError(
                f"--refit {args.refit!r}: give sets of {', '.join(KIND_PREFIX)} joined by '+', "
                "separated by commas"
            )
        sets.append(tuple(k for k in KIND_PREFIX if k in kinds))
    try:
        base = load_model(args.base)
    except ModelError as exc:
        raise InputError(str(exc)) from None
    if base.features != FEATURES:
        # The refitted boosters read the full vector; the loader has checked the classes.
        raise InputError(f"--base {args.base}: made for other features: retrain it")
    # Its boosters must read features made as the refit's are: every [dsp] setting but the
    # classifier's own (which model, how sure a report must be) shapes them.
    made = {k: v for k, v in (base.info.get("dsp_config") or {}).items() if k != "classifier"}
    if made != config.model_dump(mode="json", exclude={"classifier"}):
        raise InputError(f"--base {args.base}: trained with other [dsp] settings than these")
    return sets, base


def refitted(base: Model, fitted: Model, sets: list[tuple[str, ...]]) -> Model:
    """``base`` with the boosters of ``sets`` from ``fitted``; its info says so."""
    from dsp.classifier import Model
    from gateway.errors import InputError

    missing = ["+".join(k) for k in sets if k not in fitted.boosters]
    if missing:
        raise InputError(f"--refit: too few examples to fit {', '.join(missing)}")
    info = dict(base.info)
    info["refit"] = {
        "sets": ["+".join(k) for k in sets],
        "base": {"id": base.name, "hash": base.digest},
        **{
            k: fitted.info[k]
            for k in ("seeds", "duration_s", "examples", "real")
            if k in fitted.info
        },
    }
    if "refit" in base.info:
        info["refit"]["before"] = base.info["refit"]  # a refit of a refit keeps its history
    boosters = {**base.boosters, **{k: fitted.boosters[k] for k in sets}}
    return Model(base.classes, base.features, boosters, info)


def save_examples(path: str, examples: Any, seeds: list[int], scenarios: Sequence[str]) -> None:
    """The labelled vectors, for study and for ``--from-examples``."""
    import numpy as np

    from dsp.classifier import CLASSES, FEATURES

    np.savez(
        path,
        x=examples.x,
        y=examples.y,
        group=examples.group,
        features=np.asarray(FEATURES),
        classes=np.asarray(CLASSES),
        seeds=np.asarray(seeds),
        scenarios=np.asarray(scenarios),
    )


def calibration_rows(
    group: Any, plan: Sequence[tuple[str, int]], seeds: list[int], scenarios: Sequence[str]
) -> Any:
    """Which rows calibrate rather than train: one recording in five, rotating through the
    scenarios from seed to seed so that every background is among them."""
    import numpy as np

    held = {
        i
        for i, (scenario, seed) in enumerate(plan)
        if (scenarios.index(scenario) + seeds.index(seed)) % CALIBRATION_EVERY
        == CALIBRATION_EVERY - 1
    }
    calibrate = np.isin(group, sorted(held))
    if calibrate.all():
        calibrate = np.zeros(len(group), dtype=bool)
    return calibrate


def summary(out: str, model: Any, seconds: float) -> dict[str, Any]:
    """What ``train`` prints: the file, its examples and each sensor set's booster."""
    return {
        "out": out,
        "examples": model.info["examples"],
        "sensor_sets": {
            "+".join(kinds): {
                k: b.info.get(k)
                for k in ("rows", "rounds", "calibration_nll", "calibration_accuracy")
            }
            for kinds, b in model.boosters.items()
        },
        "seconds": seconds,
    }
