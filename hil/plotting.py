"""A picture of an evaluation: waveforms, ground truth and detections on one time axis.

matplotlib is an optional extra (``pip install 'ugs-gateway[plot]'``); callers check for it
first so that a missing install is a clear message, not a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from drivers.recordings.waveforms import Recording
from dsp.records import Detection

COLOURS = {"footstep": "tab:green", "vehicle": "tab:blue", "unknown": "tab:orange"}
MAX_POINTS = 20000


def _decimated(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min/max per bucket so a long recording still shows its peaks."""
    if y.size <= MAX_POINTS:
        return t, y
    step = -(-y.size // (MAX_POINTS // 2))
    n = (y.size // step) * step
    yy = y[:n].reshape(-1, step)
    tt = t[:n].reshape(-1, step)[:, 0]
    out_t = np.repeat(tt, 2)
    out_y = np.stack([yy.min(axis=1), yy.max(axis=1)], axis=1).reshape(-1)
    return out_t, out_y


def plot_evaluation(
    recording: Recording, detections: Sequence[Detection], path: str | Path
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    channels = list(recording.channels.values())
    fig, axes = plt.subplots(
        len(channels) + 1, 1, figsize=(14, 2.2 * (len(channels) + 1)), sharex=True
    )
    for ax, ch in zip(axes, channels, strict=False):
        y = ch.data[:, 0]
        if ch.kind == "magnetometer":
            y = np.linalg.norm(ch.data, axis=1)
            y = y - np.median(y)
        t = np.arange(y.size) / ch.rate
        td, yd = _decimated(t, y)
        ax.plot(td, yd, lw=0.5, color="black")
        ax.set_ylabel(f"{ch.name}\n{ch.units}")
    lanes = axes[-1]
    for ev in recording.truth:
        colour = COLOURS.get(ev.label, "grey")
        alpha = 0.8 if ev.extra.get("detectable", True) else 0.25
        lanes.barh(1, ev.t1 - ev.t0, left=ev.t0, height=0.6, color=colour, alpha=alpha)
        for ax in axes[:-1]:
            ax.axvspan(ev.t0, ev.t1, color=colour, alpha=0.08 * alpha)
    for det in detections:
        colour = COLOURS.get(det.cls, "grey")
        lanes.barh(
            0, det.t1 - det.t0, left=det.t0, height=0.6, color=colour, alpha=0.4 + 0.6 * det.conf
        )
    lanes.set_yticks([0, 1], ["detected", "truth"])
    lanes.set_xlabel("seconds from the start of the recording")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in COLOURS.values()]
    lanes.legend(handles, list(COLOURS), loc="upper right", ncol=3, fontsize="small")
    scenario = recording.meta.get("scenario", "")
    fig.suptitle(f"{scenario} seed {recording.meta.get('seed', '')}".strip())
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
