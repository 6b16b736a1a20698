"""Teach the classifier the site it stands on, from one or more walk tests.

  sudo ugs-gateway calibrate /var/lib/ugs-gateway/walktests/20261127T180011Z \
      -c /etc/ugs-gateway/gateway.toml

The packaged model is the prior: the site's walk tests are run through the detector again,
every event is labelled by the pass it fell in, and the packaged model's trees are boosted
further on those examples (with examples of the world it was trained on alongside, so that
it changes only where the site differs: on a floor, `[dsp.classifier] installation =
"floor"`, those of the building's scenarios, else of every one). A floor unit starts from
its packaged floor model as well, and keeps the site model that does better. How far to
go, and the site's own threshold, are chosen by cross-validation that leaves whole passes
out; the same cross-validation scores the site model(s) and the packaged one on the walk
tests (and a floor unit's floor model), and all are printed. A site model that scores
worse than any of them is refused (nothing is written) unless --force.

The site model is written to --out (default {state_dir}/site-model.json with -c, else
./site-model.json); a file already there is kept as FILE.prev. Point [dsp.classifier] model
at it, check the config, and reload the service: its status and every report then name the
model (id and short hash). The same walk tests give the same file, byte for byte.

Where nobody can walk a test, --simulate SCENARIO stands in for one: the site model learns
from simulated recordings of that scenario through random units (rates, transducers,
converters) instead, and of its setting with nobody about, its anchors only the training
scenarios of that scenario's setting. Being for files, it also learns short clips of each
pass: a step or two and the quiet after, as a triggered recorder keeps them.
`--simulate home` is a unit on a floor: quiet houses and stiff slabs, people who pause,
turn, wander, shuffle or limp, anchored in the building's scenarios (docs/calibration.md).
With --real DIR it also learns from the dev split of the real floors prepared under DIR
(docs/real-data.md), each file a walk test of another floor; that is how the package's
floor model is made.

  ugs-gateway calibrate --simulate home --out /var/lib/ugs-gateway/floor-model.json
  ugs-gateway calibrate --simulate home --real /data/ugs-real --out dsp/model-floor.json
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

NAME = "calibrate"
HELP = "adapt the classifier to the site from walk tests (writes a site model)"
ORDER = 49

SIMULATED_SEEDS = 4000
"""The first seed of ``--simulate``'s recordings (one per 10 minutes): no model was
trained or evaluated on seeds 4000-4999."""
SIMULATED_S = 600.0
"""Length of each ``--simulate`` recording."""
EMPTY_SHARE = 4
EMPTY_SEEDS = SIMULATED_SEEDS + 500
"""With them, one recording per ``EMPTY_SHARE`` of the setting with nobody about (its
noise-only scenarios in turn, seeds from ``EMPTY_SEEDS``): the short clips a model for files
learns (``hil.clips.short_clip``) teach a step followed by quiet to be a person,
and a knock or a door in an empty building is the same shape. The scenario's own
recordings hold too few of those to say so (on dev seeds, a floor model taught short clips
reported 17 detections in 4 simulated hours of empty rooms, 14 before; with the empty
building as well, 15: docs/calibration.md, "Short clips")."""
SIMULATED_CHANGES = ("seismic",)
"""What ``--simulate`` may change: how the ground or floor it stands for carries steps and
engines to the geophone. Its PIRs and magnetometers are simulated ones, not the site's: a
set of sensors without a geophone keeps the packaged booster, which also learnt from real
rooms' PIRs (a floor model's own PIR had reported swings in ipir-lvq's empty minutes)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("walktests", nargs="*", metavar="WALKTEST_DIR", help="walk test(s)")
    parser.add_argument(
        "--simulate",
        metavar="SCENARIO",
        help="no walk test: learn from simulated recordings of SCENARIO through random "
        "units instead (home: a unit on a floor)",
    )
    parser.add_argument(
        "--simulate-minutes",
        type=float,
        default=80.0,
        metavar="M",
        help="minutes of --simulate recordings (default 80)",
    )
    parser.add_argument(
        "--real",
        metavar="DIR",
        help="with --simulate: also learn from the dev split of the real floors prepared "
        "under DIR (hil.real_examples.FLOOR_SETS; docs/real-data.md)",
    )
    parser.add_argument("--out", metavar="FILE", help="site model to write")
    parser.add_argument(
        "-c", "--config", metavar="CONFIG", help="the unit's config: its [dsp] and state dir"
    )
    parser.add_argument(
        "--prior",
        metavar="FILE",
        help="the model to start from (default: the packaged one, and on a floor unit its "
        "floor model as well, keeping the better site model)",
    )
    parser.add_argument(
        "--anchor-minutes",
        type=float,
        default=10.0,
        metavar="M",
        help="minutes of each training scenario simulated as anchors (default 10; 0: none)",
    )
    parser.add_argument(
        "--force", action="store_true", help="write the site model even if it scores worse"
    )


def run(args: argparse.Namespace) -> int:
    from dsp.config import DspConfig
    from gateway.commands.analyze import announce_compiling
    from gateway.config import load_config
    from gateway.errors import InputError
    from gateway.walktest.files import read_walktest
    from hil.site_calibration import INSTALLATION_SETTINGS
    from hil.site_examples import site_examples

    if not 0 <= args.anchor_minutes <= 120:
        raise InputError("--anchor-minutes must be 0-120")
    if args.real and not args.simulate:
        raise InputError("--real goes with --simulate: a walk test teaches the site itself")
    if bool(args.walktests) == bool(args.simulate):
        raise InputError(
            "give the site's walk test(s), or --simulate SCENARIO where there is none (not both)"
        )
    if args.simulate:
        return _run_simulated(args)
    walks = [read_walktest(d) for d in args.walktests]
    config = load_config(args.config) if args.config else None
    out = _out_path(args, config)
    if config is not None:
        dsp = config.dsp
        site = config.node.site
    else:
        try:
            dsp = DspConfig.model_validate(walks[0].manifest.get("dsp") or {})
        except ValueError as exc:
            raise InputError(
                f"{walks[0].path}: its [dsp] settings are unreadable ({exc})"
            ) from None
        site = str(walks[0].manifest.get("site") or "site")
    for w in walks:
        if (w.manifest.get("dsp") or {}) != dsp.model_dump(mode="json"):
            print(
                f"note: {w.path} was recorded with other [dsp] settings; "
                "calibrating with the ones given",
                file=sys.stderr,
            )
    prior = _prior(args)
    for w in walks:
        for line in w.warnings:
            print(f"note: {line}", file=sys.stderr)
    announce_compiling()
    started = time.monotonic()
    examples = site_examples([w.recording for w in walks], dsp)
    _describe(walks, examples)
    if not any(p.signal for p in examples.passes):
        raise InputError(
            "no marked pass was seen by any sensor: nothing to learn (were the sensors "
            "working and the passes close enough? see the walk test's summary)"
        )
    info = _info(prior, walks, site, dsp, args.anchor_minutes)
    durations = [w.duration for w in walks]
    # Anchored where the unit stands: a floor unit in the building's scenarios.
    where = INSTALLATION_SETTINGS.get(dsp.classifier.installation)
    installed = _installed(dsp)
    return _finish(
        args, prior, examples, dsp, durations, info, out, started, installed, setting=where
    )


def _installed(dsp: Any) -> Any:
    """The packaged model a unit of another installation than the ground runs (the floor
    model): a site model must also beat it on the walk tests. None on the ground, or where
    the config names a model file (the prior is then the baseline, as ever)."""
    from dsp.classifier import configured_model

    if dsp.classifier.model is not None or dsp.classifier.installation == "ground":
        return None
    return configured_model(dsp.classifier)


def _run_simulated(args: argparse.Namespace) -> int:
    """``--simulate``: the site model from simulated recordings instead of walk tests."""
    import math

    from dsp.config import DspConfig
    from gateway.commands.analyze import announce_compiling
    from gateway.config import load_config
    from gateway.errors import InputError
    from hil.analysis import OFFLINE_PRIME_S
    from hil.scenarios import SCENARIOS, generate
    from hil.scenarios.specs import SPECS
    from hil.site_calibration import ANCHOR_SEEDS
    from hil.site_examples import SHORT_CLIPS_PER_PASS, site_examples

    if args.simulate not in SCENARIOS:
        raise InputError(
            f"--simulate: unknown scenario {args.simulate!r} (ugs-gateway simulate --list)"
        )
    if SPECS[args.simulate].noise_only:
        raise InputError(f"--simulate {args.simulate}: no event to learn from (noise only)")
    if not 10.0 <= args.simulate_minutes <= 600.0:
        raise InputError("--simulate-minutes must be 10-600")
    config = load_config(args.config) if args.config else None
    dsp = config.dsp if config is not None else DspConfig()
    out = _out_path(args, config)
    prior = _prior(args)
    announce_compiling()
    started = time.monotonic()
    count = math.ceil(args.simulate_minutes * 60.0 / SIMULATED_S)
    seeds = [SIMULATED_SEEDS + i for i in range(count)]
    setting = SPECS[args.simulate].setting
    empties = [n for n, spec in SPECS.items() if spec.setting == setting and spec.noise_only]
    empty_plan = [
        (empties[i % len(empties)], EMPTY_SEEDS + i)
        for i in range(max(1, count // EMPTY_SHARE) if empties else 0)
    ]
    minutes = count * SIMULATED_S / 60.0
    real, real_info = _real_floors(args)  # a broken data set is named before the long part
    empty_words = (
        f", and {len(empty_plan)} x {SIMULATED_S / 60:g} min of its setting with nobody about "
        f"({', '.join(sorted({n for n, _ in empty_plan}))})"
        if empty_plan
        else ""
    )
    print(
        f"simulating {count} x {SIMULATED_S / 60:g} min of {args.simulate!r}{empty_words} "
        "through random units...",
        file=sys.stderr,
    )
    recordings = [generate(args.simulate, SIMULATED_S, seed, site="random") for seed in seeds]
    recordings += [generate(name, SIMULATED_S, seed, site="random") for name, seed in empty_plan]
    recordings += real
    # Analysed as files are: the recordings stand for a walk test nobody marked live.
    examples = site_examples(
        recordings, dsp, prime_s=OFFLINE_PRIME_S, short_clips_per_pass=SHORT_CLIPS_PER_PASS
    )
    labels = [p.label for p in examples.passes]
    real_minutes = sum(r.duration for r in real) / 60.0
    print(
        f"{count + len(empty_plan)} simulated recordings, "
        f"{(count + len(empty_plan)) * SIMULATED_S / 60.0:g} min"
        + (f", and {len(real)} real ones, {real_minutes:.0f} min" if real else "")
        + ": "
        f"{len(labels)} events ({labels.count('footstep')} people, "
        f"{labels.count('vehicle')} vehicles), {sum(p.signal for p in examples.passes)} "
        f"seen by a sensor; {len(examples)} examples"
    )
    if not any(p.signal for p in examples.passes):
        raise InputError(f"--simulate {args.simulate}: no event any sensor saw to learn from")
    info = {
        "id": f"site-{args.simulate}-simulated-{minutes:g}min"
        + (f"+real{len(real_info)}" if real else ""),
        "kind": "site",
        "prior": {"id": prior.name, "hash": prior.digest},
        "simulated": {
            "scenario": args.simulate,
            "seeds": seeds,
            "site": "random",
            **({"empty": [list(item) for item in empty_plan]} if empty_plan else {}),
        },
        **({"real": {"split": "dev", "sets": real_info}} if real else {}),
        "anchors": {"seeds": list(ANCHOR_SEEDS), "minutes": args.anchor_minutes},
        "dsp_config": dsp.model_dump(mode="json"),
    }
    durations = [r.duration for r in recordings]
    # Anchored in the setting simulated (a floor: the building's scenarios), not the fields.
    return _finish(
        args,
        prior,
        examples,
        dsp,
        durations,
        info,
        out,
        started,
        changes=SIMULATED_CHANGES,
        setting=SPECS[args.simulate].setting,
    )


def _real_floors(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    """``--real``: the real floors' dev files as walk tests of other floors, and what was
    read of each data set (none without ``--real``)."""
    from hil.real_examples import FLOOR_SETS, walk_tests

    if not args.real:
        return [], {}
    root = Path(args.real)
    recordings, info = walk_tests(root, FLOOR_SETS)
    print(
        f"read the dev split of {', '.join(info)} under {root}: {len(recordings)} files",
        file=sys.stderr,
    )
    return recordings, info


def _out_path(args: argparse.Namespace, config: Any) -> Path:
    """Where the site model goes: --out, else the unit's state dir with -c, else here."""
    from gateway.errors import InputError

    if args.out:
        out = Path(args.out)
    elif config is not None:
        out = Path(config.node.state_dir) / "site-model.json"
    else:
        out = Path("site-model.json")
    if not out.parent.is_dir():
        raise InputError(f"--out: directory {out.parent} does not exist")
    return out


def _prior(args: argparse.Namespace) -> Any:
    """The model to start from, which must not be a site model itself."""
    from dsp.classifier import ModelError, load_model
    from gateway.errors import InputError

    try:
        prior = load_model(args.prior)
    except ModelError as exc:
        raise InputError(f"--prior: {exc}" if args.prior else str(exc)) from None
    if "prior" in prior.info and not _packaged(prior):
        raise InputError(
            f"{args.prior}: a site model, not a prior: calibrate from the packaged model "
            "with all of the site's walk tests together"
        )
    return prior


def _packaged(model: Any) -> str | None:
    """Which of the package's own models ``model`` is (``ground``, ``floor``), or None. The
    floor model is a site model of simulated homes and real floors, and a prior all the
    same."""
    return _packaged_digests().get(model.digest)


@functools.cache
def _packaged_digests() -> dict[str, str]:
    """The package's own models by their hash: each file is read once."""
    from dsp.classifier import PACKAGED_MODELS, load_model

    return {load_model(None, kind).digest: kind for kind in PACKAGED_MODELS}


def _prior_name(args: argparse.Namespace, prior: Any) -> str:
    """What the tables and reasons call the prior: the packaged (ground) model, the floor
    model, or a model given with --prior."""
    kind = "ground" if args.prior is None else _packaged(prior)
    return {"ground": "packaged model", "floor": "floor model"}.get(kind or "", "prior")


def _finish(
    args: argparse.Namespace,
    prior: Any,
    examples: Any,
    dsp: Any,
    durations: list[float],
    info: dict[str, Any],
    out: Path,
    started: float,
    installed: Any = None,
    changes: tuple[str, ...] | None = None,
    setting: str | None = None,
) -> int:
    """Anchors, the site model and its scores, written unless refused (also when it scores
    worse than the ``installed`` model the unit would run without it). Without --prior a
    unit with an ``installed`` model (a floor unit's floor model) starts from it as well as
    from the packaged model, and keeps the better site model. ``changes``: the kinds of
    sensor the site model may change (``hil.site_calibration.calibrate``); ``setting``: the
    one the anchors are drawn from (None: every training scenario)."""
    from dsp.classifier import load_model
    from gateway.commands.output import write_whole
    from gateway.errors import UgsError
    from hil.site_calibration import calibrate_from, hold_to

    anchors = _anchors(args.anchor_minutes, dsp, setting, info)
    name = f"{dsp.classifier.installation} model"
    priors = {_prior_name(args, prior): prior}
    if installed is not None and not args.prior:
        priors[name] = installed  # the site may be better taught from what the unit runs
    kept, made = calibrate_from(
        priors, examples, dsp, durations, info=info, anchors=anchors, changes=changes
    )
    result = made[kept]
    rows = [(n, r.before) for n, r in made.items()]
    if installed is not None and name not in priors:
        rows.append(
            (name, hold_to(result, f"{name} the unit runs", installed, examples, dsp, durations))
        )
    if len(made) == 1:
        rows.append(("site model", result.after))
    else:
        rows += [(f"site model from the {n}", r.after) for n, r in made.items()]
    _table(priors[kept], rows, result.sets)
    if len(made) > 1:
        print(f"kept: the site model from the {kept}, the better in cross-validation")
    if result.accepted and result.after.to_json() == result.before.to_json():
        print(
            f"note: the site model scores as the {kept} does on these passes: the walk "
            f"tests taught it nothing that shows, and the unit may as well run the {kept}"
        )
    result.model.info = _recorded(info, priors, kept, made, forced=args.force)
    if not result.accepted and not args.force:
        why = "the site model scores worse in cross-validation " + "; ".join(result.reasons)
        if len(made) > 1:
            why = "every site model scores worse in cross-validation: " + "; ".join(
                f"the one from the {n} " + ", and ".join(r.reasons) for n, r in made.items()
            )
        print(
            f"refused: {why}. Nothing was written ({out} is as it was); --force writes it "
            "anyway." + _keeps(dsp, installed),
            file=sys.stderr,
        )
        raise UgsError("site model refused")
    text = json.dumps(result.model.to_json(), indent=1, sort_keys=True) + "\n"
    write_whole(out, text, keep_previous=True)
    digest = load_model(out).digest
    if not result.accepted:
        print(f"written anyway (--force): {'; '.join(result.reasons)}")
    print(
        f"site model {info['id']} ({digest}) written to {out} "
        f"in {time.monotonic() - started:.0f} s.\n{next_step(out)}"
    )
    return 0


def _anchors(minutes: float, dsp: Any, setting: str | None, info: dict[str, Any]) -> Any:
    """``minutes`` of the training scenarios of ``setting`` (every one when None) simulated
    as anchors, named in ``info``; None for none."""
    from hil.site_calibration import anchor_examples, anchor_scenarios

    if minutes <= 0:
        return None
    scenarios = anchor_scenarios(setting)
    which = (
        "every training scenario"
        if scenarios == anchor_scenarios()
        else f"the training scenarios of the {setting} ({', '.join(scenarios)})"
    )
    print(f"simulating {minutes:g} min of {which} as anchors...", file=sys.stderr)
    info["anchors"]["scenarios"] = list(scenarios)
    return anchor_examples(dsp, duration_s=60.0 * minutes, scenarios=scenarios)


def _recorded(
    info: dict[str, Any], priors: dict[str, Any], kept: str, made: dict[str, Any], forced: bool
) -> dict[str, Any]:
    """The site model's ``info``: the prior it was made from and how it scored (and, where
    there were several priors, what each one's site model scored)."""
    result = made[kept]
    info["prior"] = {"id": priors[kept].name, "hash": priors[kept].digest}
    info["calibration"] = {
        "before": result.before.to_json(),
        "after": result.after.to_json(),
        "sets": result.sets,
        "accepted": result.accepted,
        "refused_because": result.reasons,
        "forced": bool(forced and not result.accepted),
    }
    if len(made) > 1:
        info["calibration"]["priors_tried"] = {
            n: {
                "prior": {"id": priors[n].name, "hash": priors[n].digest},
                "after": r.after.to_json(),
                "accepted": r.accepted,
                "refused_because": r.reasons,
            }
            for n, r in made.items()
        }
    return info


def _keeps(dsp: Any, installed: Any) -> str:
    """What a unit whose site model was refused goes on running."""
    if installed is not None:
        return (
            f" The unit keeps the packaged {dsp.classifier.installation} model it runs now "
            f"({installed.name})."
        )
    return ""


def next_step(out: Path) -> str:
    """What to do with the model just written: point the config at it, unless it is one of
    the package's own (``make floor-model``), which its installation picks by itself."""
    from importlib import resources

    from dsp.classifier import PACKAGED_MODELS

    for installation, name in PACKAGED_MODELS.items():
        if out.resolve() == Path(str(resources.files("dsp").joinpath(name))).resolve():
            return (
                f'Next: units with [dsp.classifier] installation = "{installation}" and no '
                "model file take it when they start or reload."
            )
    return (
        f'Next: set [dsp.classifier] model = "{out.resolve()}" in the config, run '
        "ugs-gateway check-config, then: sudo systemctl reload ugs-gateway"
    )


def _describe(walks: list[Any], examples: Any) -> None:
    passes = examples.passes
    minutes = sum(w.duration for w in walks) / 60.0
    labels = [p.label for p in passes]
    print(
        f"{len(walks)} walk test(s), {minutes:.1f} min: {len(passes)} passes "
        f"({labels.count('footstep')} people, {labels.count('vehicle')} vehicles), "
        f"{sum(p.signal for p in passes)} seen by a sensor; {len(examples)} examples"
    )
    for p in passes:
        if not p.signal:
            dist = f" at {p.range_m:g} m" if p.range_m >= 0 else ""
            print(
                f"  {walks[p.recording].path.name}: {p.kind}{dist} at {p.t0:.0f} s: no sensor "
                "rose above its noise during it; it teaches nothing"
            )
    for kind, spans in sorted(examples.dead.items()):
        for r, a, b in spans:
            print(
                f"  {walks[r].path.name}: no {kind} data from {a:.0f} s to {b:.0f} s: events "
                f"then teach only the sensors that were working"
            )


def _info(
    prior: Any, walks: list[Any], site: str, dsp: Any, anchor_minutes: float
) -> dict[str, Any]:
    from hil.site_calibration import ANCHOR_SEEDS

    last = max(float(w.recording.start_time) for w in walks)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(last))
    return {
        "id": f"site-{site}-{stamp}",
        "kind": "site",
        "prior": {"id": prior.name, "hash": prior.digest},
        "walk_tests": [
            {
                "dir": w.path.name,
                "node": w.manifest.get("node"),
                "started": w.manifest.get("started"),
                "minutes": round(w.duration / 60.0, 2),
                "marks": len(w.manifest.get("marks") or []),
            }
            for w in walks
        ],
        "anchors": {"seeds": list(ANCHOR_SEEDS), "minutes": anchor_minutes},
        "dsp_config": dsp.model_dump(mode="json"),
    }


def _table(prior: Any, scores: list[tuple[str, Any]], sets: dict[str, Any]) -> None:
    width = max(14, *(len(name) for name, _ in scores))

    def row(name: str, s: Any) -> str:
        pds = "  ".join(
            f"{cls} Pd {'-' if v is None else f'{v:.3f}'} (n={s.n[cls]})" for cls, v in s.pd.items()
        )
        prec = "-" if s.precision is None else f"{s.precision:.3f}"
        return (
            f"  {name:<{width}} {pds}  precision {prec}  false reports {s.false_reports}  "
            f"log-loss {s.nll:.3f}"
        )

    print(f"prior: {prior.name} ({prior.digest})")
    print("cross-validation over the marked passes (each scored by a model that never saw it):")
    for name, score in scores:
        print(row(name, score))

    def unit_value(key: str) -> float | None:
        return next((v[key] for v in sets.values() if isinstance(v, dict) and v.get(key)), None)

    shift, line = unit_value("noise_shift"), unit_value("vehicle_shift")
    print(
        f"site model: {sets.get('rounds', 0)} rounds of site trees"
        + (f", the site's threshold shifts the noise score by {shift:+g}" if shift else "")
        + (f", the site's line shifts the vehicle score by {line:+g}" if line else "")
    )
