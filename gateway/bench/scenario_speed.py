"""How long the scenario generator takes for an hour of every scenario.

Times are compared with one forward + inverse FFT of 1.8 M samples (an hour at 500 Hz)
measured in the same run, so the ratios mean something on a busy or slow machine.

    .venv/bin/python -m gateway.bench.scenario_speed [--duration 3600] [--seed 101] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from hil.scenarios import SCENARIOS, generate


def fft_reference(n: int = 1_800_000, repeat: int = 5) -> float:
    x = np.random.default_rng(0).standard_normal(n)
    started = time.perf_counter()
    for _ in range(repeat):
        np.fft.irfft(np.fft.rfft(x), n=n)
    return (time.perf_counter() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=101)
    args = parser.parse_args()
    ref = fft_reference()
    results = {}
    for name in args.names:
        started = time.perf_counter()
        rec = generate(name, args.duration, args.seed)
        seconds = time.perf_counter() - started
        results[name] = {
            "seconds": round(seconds, 2),
            "x_fft_reference": round(seconds / ref, 1),
            "x_realtime": round(args.duration / seconds),
            "events": len(rec.truth),
        }
    print(
        json.dumps(
            {"fft_pair_1p8M_s": round(ref, 3), "duration_s": args.duration, "scenarios": results},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
