"""A logger that loses samples between the packets it sends, written back to back.

Some field loggers sample in packets (a few hundred samples), and lose a few samples while
one packet is sent and the next begins; a file that puts the packets back to back then has
a step at every join (the trace jumps to where the signal had gone meanwhile) and runs
short in time (jxunn_geoscope's set-up B: 500-sample packets, about 13 % of the time
lost). The unit's clock is the seismic logger's: every channel and the truth are put on
the file's time.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from drivers.recordings.waveforms import Channel, TruthEvent


def file_time(t: float, rate: float, packet: int, lost: int) -> float:
    """Where real time ``t`` lands in the file: packets of ``packet`` samples at ``rate``,
    ``lost`` samples gone after each (a time inside a gap lands on the next packet)."""
    period = packet + lost
    k = t * rate
    whole = math.floor(k / period)
    inside = min(k - whole * period, packet)
    return (whole * packet + inside) / rate


def kept(n: int, rate: float, seismic_rate: float, packet: int, lost: int) -> np.ndarray:
    """Which of ``n`` samples at ``rate`` fall inside a packet of the seismic logger."""
    k = np.arange(n) * (seismic_rate / rate)
    return np.asarray(np.mod(k, packet + lost) < packet)


def packetize(
    channels: dict[str, Channel],
    truth: list[TruthEvent],
    faults: list[dict[str, Any]],
    seismic_rate: float,
    packet: int,
    lost: int,
) -> tuple[dict[str, Channel], list[TruthEvent], list[dict[str, Any]]]:
    """The recording as such a logger writes it: the samples lost at every join dropped
    from each channel, and every time of the truth and of the faults on the file's clock."""
    if packet < 1 or lost < 0:
        raise ValueError(f"packets of {packet} samples losing {lost}: need 1 or more and 0 or more")

    def at(t: float) -> float:
        return round(file_time(t, seismic_rate, packet, lost), 3)

    out = {}
    for name, ch in channels.items():
        keep = kept(len(ch), ch.rate, seismic_rate, packet, lost)
        out[name] = replace(
            ch,
            data=np.ascontiguousarray(ch.data[keep]),
            valid=None if ch.valid is None else np.ascontiguousarray(ch.valid[keep]),
        )
    events = []
    for ev in truth:
        extra = dict(ev.extra)
        if "spans" in extra:
            extra["spans"] = {k: [at(a), at(b)] for k, (a, b) in extra["spans"].items()}
        if "present" in extra:
            a, b = extra["present"]
            extra["present"] = [at(a), at(b)]
        events.append(replace(ev, t0=at(ev.t0), t1=at(ev.t1), t_cpa=at(ev.t_cpa), extra=extra))
    moved = [{**f, "t0": at(f["t0"]), "t1": at(f["t1"])} if "t0" in f else f for f in faults]
    return out, events, moved
