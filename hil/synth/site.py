"""Where a field unit stands and what hardware it has: the variation between real units.

Real recordings differ from one unit to the next far more than the scenarios' backgrounds
do: sample rates from 100 Hz to several kHz (often not a round number: the node's own
clock), soil from soft field to a hard-packed road bed or a building floor, transducers from
a 4.5-Hz geophone to an accelerometer or a node with a high-pass, raw ADC counts of 10-24
bits on a DC offset with the quiet background at a fraction of a step or at tens of steps,
magnetometers of one or three axes with offsets and mains or equipment interference, PIR
boards digitised on a mid-rail offset and saturating at their rails.

A :class:`Site` holds one such unit; ``random_site(rng, setting)`` draws one per recording;
``hil.scenarios.generate(..., site=...)`` renders a scenario through it
(``hil.synth.hardware`` applies it to the signals). Without a site, the scenarios come out
as they always did.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from hil.synth.ground import Ground, loguniform

SETTINGS = ("field", "road", "street", "building")
"""Where the unit stands: open ground, beside a road (hard-packed road bed), at the kerb of
a town street (asphalt on soft fill), on a floor."""
DRAWN_SETTINGS = {"field": 0.5, "road": 0.3, "building": 0.2}
"""Where a drawn unit stands when nothing says where."""

SEISMIC_RATES = (100.0, 200.0, 250.0, 500.0, 1000.0, 1600.0, 4310.34)
SEISMIC_WEIGHTS = (0.08, 0.1, 0.17, 0.25, 0.17, 0.13, 0.1)
PACKET_LOGGERS = 0.0
"""Share of units whose logger (a raw converter) loses samples between packets. None yet:
0.15 was measured on two seed sets (docs/real-data.md, jxunn_geoscope) but is not in the
packaged model's training, which this world must reproduce."""
PACKET_SAMPLES = (250, 500, 1000)
PACKET_LOST = (0.005, 0.15)
"""Samples lost at each join, as a share of a packet (1 % and 13.5 % in jxunn_geoscope)."""
PIR_RATES = (10.0, 20.0, 50.0, 100.0)
MAG_RATES = (5.0, 10.0, 10.65, 20.0, 50.0, 100.0, 200.0)


@dataclass(frozen=True)
class Transducer:
    """What turns ground velocity into the seismic channel's signal.

    ``geophone``: a moving-coil velocity sensor, flat above ``natural_hz``, falling as f^2
    below it (an underdamped one peaks at its natural frequency). ``accelerometer``: the
    output is acceleration, rising as f against velocity. Either may sit behind an
    electronic high-pass (second order) at ``highpass_hz`` (0: none), as many nodes do.
    """

    kind: str = "geophone"
    natural_hz: float = 4.5
    damping: float = 0.7
    highpass_hz: float = 0.0

    def response(self, freqs: npt.ArrayLike) -> npt.NDArray[np.complex128]:
        """Complex response from ground velocity (m/s) to the output, per frequency (Hz)."""
        f = np.asarray(freqs, dtype=np.float64)
        h: npt.NDArray[np.complex128]
        if self.kind == "accelerometer":
            h = np.asarray(2j * np.pi * f, dtype=np.complex128)
        else:
            x = f / self.natural_hz
            h = np.asarray(-(x**2) / (1.0 - x**2 + 2j * self.damping * x), dtype=np.complex128)
        if self.highpass_hz > 0:
            y = f / self.highpass_hz
            h = h * (-(y**2) / (1.0 - y**2 + 1j * math.sqrt(2.0) * y))
        return np.asarray(h, dtype=np.complex128)

    @property
    def units(self) -> str:
        return "m/s^2" if self.kind == "accelerometer" else "m/s"


@dataclass(frozen=True)
class Adc:
    """A converter: float physical units (``raw`` False), or integer counts.

    Raw counts are ``clip(rint(offset + x / step), low, high)`` with ``step`` set so that
    the quiet background's RMS is ``noise_steps`` counts (a fraction of a step is real:
    roadside nodes sit at 0.2-2 counts). ``signed`` converters span -2^(bits-1) ..
    2^(bits-1) - 1 around a small offset; unsigned ones 0 .. 2^bits - 1 around a mid-rail
    offset. The data are written as the counts themselves (scale 1, units ``counts``), the
    way such recordings come.
    """

    raw: bool = False
    bits: int = 24
    signed: bool = True
    offset: float = 0.0
    noise_steps: float = 10.0

    @property
    def low(self) -> float:
        return -(2.0 ** (self.bits - 1)) if self.signed else 0.0

    @property
    def high(self) -> float:
        return 2.0 ** (self.bits - 1) - 1.0 if self.signed else 2.0**self.bits - 1.0

    @property
    def channel_bits(self) -> int:
        """Signed width that holds every count (an unsigned converter needs one more bit)."""
        return self.bits if self.signed else self.bits + 1


@dataclass(frozen=True)
class Interference:
    """A periodic disturbance on the magnetometer: mains or a machine, ``freq_hz`` as it is
    in the world (sampled without an anti-alias filter, so it folds at low rates), its
    amplitude (nT) and the direction (north, east, down) along which it acts."""

    freq_hz: float
    amplitude_nt: float
    direction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    harmonics: int = 1
    duty: float = 1.0
    """Share of the time the source is on (machines cycle; 1 = always)."""


@dataclass(frozen=True)
class MagSensor:
    """The magnetometer: which axes it has (unit vectors in north, east, down; empty = the
    three geographic axes), its noise, interference and converter."""

    axes: tuple[tuple[float, float, float], ...] = ()
    noise_nt: float = 0.4
    interference: tuple[Interference, ...] = ()
    adc: Adc = field(default_factory=Adc)
    axis_offsets: tuple[float, ...] = ()
    """Each axis's own offset from ``adc.offset``, counts (hard iron, uncompensated)."""

    @property
    def n_axes(self) -> int:
        return len(self.axes) if self.axes else 3


@dataclass(frozen=True)
class PirBoard:
    """The PIR's amplifier and converter: ``gain`` x the model's output, ``noise_factor`` x
    its noise, soft saturation at ``rails`` (volts either side of the mid-rail level, not
    necessarily symmetric), and, when ``adc.raw``, counts on a mid-rail offset of
    ``volts_per_count`` each."""

    gain: float = 1.0
    noise_factor: float = 1.0
    lowpass_hz: float = 5.0
    """Corner of the amplifier's (second-order) low-pass: boards differ, 0.7-5 Hz."""
    lens_scale: float = 1.0
    """Angular scale of the lens's zones relative to the model's (2: zones and element
    pairs twice as wide, field of view +-70 degrees)."""
    rails: tuple[float, float] = (-1.6, 1.6)
    adc: Adc = field(default_factory=Adc)
    volts_per_count: float = 1e-4
    transients_per_h: float = 0.0
    """Electrical transients: sharp dips or jumps of a fraction of a second (a relay, a
    radio burst, the supply sagging), which a real board shows every few tens of seconds
    to never, and which are not a warm body."""


@dataclass(frozen=True)
class Site:
    """One field unit where it stands: rates, ground, transducer and converters.

    ``ground`` None leaves the scenario's own draw for its setting. ``seismic_rate`` etc.
    are the rates the unit writes (the physics is rendered at a nearby round rate and
    resampled when they differ).
    """

    setting: str = "field"
    ground: Ground | None = None
    seismic_rate: float = 500.0
    pir_rate: float = 50.0
    mag_rate: float = 50.0
    transducer: Transducer = field(default_factory=Transducer)
    seismic_adc: Adc = field(default_factory=Adc)
    magnetometer: MagSensor = field(default_factory=MagSensor)
    pir: PirBoard = field(default_factory=PirBoard)
    seismic_packets: tuple[int, int] | None = None
    """A logger that samples in packets of the first number of samples and loses the second
    number at every join, the packets written back to back (``hil.synth.packets``); None:
    a continuous record."""

    def describe(self) -> dict[str, Any]:
        """Plain JSON of everything drawn (for the truth file's meta)."""
        out = asdict(self)
        out["ground"] = None if self.ground is None else ground_json(self.ground)
        return out


def ground_json(g: Ground) -> dict[str, Any]:
    return {
        "q": g.q,
        "c_mps": g.c,
        "spreading": g.spreading,
        "modes_hz": list(g.modes_hz),
        "mode_q": g.mode_q,
        "mode_gain": None if g.mode_gain is None else list(g.mode_gain),
        "impact_gain": g.impact_gain,
    }


# --- ground ------------------------------------------------------------------------------


def site_ground(rng: np.random.Generator, setting: str, slab_share: float = 0.0) -> Ground:
    """Ground far wider than ``random_ground``: soft field soil, a hard-packed road bed, a
    street's asphalt on soft fill, a building floor (modes higher and less damped, footfalls
    sharper and louder per unit of force because a floor is compliant)."""
    if setting == "field":
        scale = rng.uniform(0.6, 1.6)
        return Ground(
            q=float(rng.uniform(8.0, 30.0)),
            c=float(rng.uniform(120.0, 320.0)),
            spreading=float(rng.uniform(0.7, 1.2)),
            modes_hz=_scaled_modes(rng, scale),
            mode_q=float(rng.uniform(3.0, 8.0)),
        )
    if setting == "road":
        scale = rng.uniform(1.0, 2.0)
        return Ground(
            q=float(rng.uniform(12.0, 40.0)),
            c=float(rng.uniform(180.0, 400.0)),
            spreading=float(rng.uniform(0.5, 1.0)),
            modes_hz=_scaled_modes(rng, scale),
            mode_q=float(rng.uniform(4.0, 10.0)),
        )
    if setting == "street":
        # Asphalt on made ground: the bed rings lower than a gravel road's and mostly in one
        # mode (urban roadside nodes see passes with 70-80 % of their energy at 10-30 Hz).
        scale = loguniform(rng, 0.65, 1.1)
        return Ground(
            q=float(rng.uniform(10.0, 30.0)),
            c=float(rng.uniform(150.0, 350.0)),
            spreading=float(rng.uniform(0.5, 1.0)),
            modes_hz=_scaled_modes(rng, scale),
            mode_q=float(rng.uniform(4.0, 10.0)),
            mode_gain=(
                float(rng.uniform(0.1, 0.5)),
                1.0,
                float(rng.uniform(0.3, 0.8)),
                float(rng.uniform(0.1, 0.4)),
            ),
        )
    if setting == "building":
        return floor_ground(rng, slab_share)
    raise ValueError(f"unknown setting {setting!r}; one of {', '.join(SETTINGS)}")


def _scaled_modes(rng: np.random.Generator, scale: float) -> tuple[float, ...]:
    """Soil's modes times ``scale``, each off by up to 10 %."""
    base = np.asarray(Ground.modes_hz)
    return tuple(float(f) for f in base * scale * rng.uniform(0.9, 1.1, base.size))


@dataclass(frozen=True)
class _FloorKind:
    """Ranges a kind of floor is drawn from (uniform, the impact gain log-uniform)."""

    fundamental_hz: tuple[float, float]
    ratios: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    q: tuple[float, float]
    c: tuple[float, float]
    spreading: tuple[float, float]
    mode_q: tuple[float, float]
    gain_first: float
    gain_upper: tuple[tuple[float, float], tuple[float, float]]
    impact_gain: tuple[float, float]

    def draw(self, rng: np.random.Generator, f1: float) -> Ground:
        r2, r3, r4 = (float(rng.uniform(*r)) for r in self.ratios)
        return Ground(
            q=float(rng.uniform(*self.q)),
            c=float(rng.uniform(*self.c)),
            spreading=float(rng.uniform(*self.spreading)),
            modes_hz=(f1, f1 * r2, f1 * r3, f1 * r4),
            mode_q=float(rng.uniform(*self.mode_q)),
            mode_gain=(
                self.gain_first,
                1.0,
                float(rng.uniform(*self.gain_upper[0])),
                float(rng.uniform(*self.gain_upper[1])),
            ),
            impact_gain=loguniform(rng, *self.impact_gain),
        )


SUSPENDED_FLOOR = _FloorKind(
    fundamental_hz=(6.0, 22.0),
    ratios=((1.6, 2.1), (2.7, 3.5), (4.2, 5.5)),
    q=(20.0, 80.0),
    c=(150.0, 600.0),
    spreading=(0.5, 1.0),
    mode_q=(8.0, 25.0),
    gain_first=4.0,
    gain_upper=((0.15, 0.4), (0.05, 0.2)),
    impact_gain=(1.0, 4.0),
)
"""A slab or joists ringing in a few modes from a fundamental of 6-22 Hz up (light timber
floors low, concrete higher), far less damped than soil, a footfall going mostly into the
fundamental modes (real floors: 10-30 Hz); waves cross it fast and lose little."""

SLAB_FLOOR = _FloorKind(
    fundamental_hz=(18.0, 40.0),
    ratios=((1.5, 2.0), (2.4, 3.2), (3.5, 4.5)),
    q=(10.0, 30.0),
    c=(400.0, 1500.0),
    spreading=(0.7, 1.2),
    mode_q=(1.5, 5.0),
    gain_first=1.5,
    gain_upper=((0.5, 1.0), (0.3, 0.8)),
    impact_gain=(0.5, 2.0),
)
"""A stiff slab (on grade, or thick and well supported): higher, heavily damped modes that
barely ring, so a footfall is a sharp broadband knock of a few tens of ms (capstone's piezo
and accelerometer floors: impacts far sharper than any ringing floor's, energy to 100 Hz)."""


def floor_ground(rng: np.random.Generator, slab_share: float = 0.0) -> Ground:
    """A building floor: ``SLAB_FLOOR`` with probability ``slab_share``, otherwise
    ``SUSPENDED_FLOOR``. Rooms are small."""
    if slab_share <= 0.0:
        return SUSPENDED_FLOOR.draw(rng, loguniform(rng, *SUSPENDED_FLOOR.fundamental_hz))
    # One draw picks the kind of floor and its fundamental (log-uniform in its range), and
    # either kind draws as many numbers after it, so the rest of a recording (the PIR's
    # aim, the events) is the same whichever floor it got.
    u = float(rng.random())
    if u < slab_share:
        kind, share = SLAB_FLOOR, u / slab_share
    else:
        kind, share = SUSPENDED_FLOOR, (u - slab_share) / (1.0 - slab_share)
    lo, hi = kind.fundamental_hz
    return kind.draw(rng, lo * (hi / lo) ** share)


# --- hardware ------------------------------------------------------------------------------


def _rate(rng: np.random.Generator, rates: tuple[float, ...], weights: tuple[float, ...]) -> float:
    p = np.asarray(weights) / np.sum(weights)
    r = float(rates[int(rng.choice(len(rates), p=p))])
    if rng.random() < 0.35 and r == int(r):
        # The unit's own clock: a measured rate a little off the nominal one.
        r = round(r * (1.0 + rng.uniform(-0.03, 0.03)), 3)
    return r


def random_transducer(rng: np.random.Generator) -> Transducer:
    kind = "accelerometer" if rng.random() < 0.25 else "geophone"
    highpass = 0.0 if rng.random() < 0.55 else loguniform(rng, 3.0, 25.0)
    return Transducer(
        kind=kind,
        natural_hz=float(rng.uniform(4.5, 14.0)),
        damping=float(rng.uniform(0.3, 0.75)),
        highpass_hz=highpass,
    )


def random_adc(
    rng: np.random.Generator,
    bits_choice: tuple[int, ...],
    weights: tuple[float, ...],
    *,
    raw_prob: float = 0.7,
    noise_steps: tuple[float, float] = (0.2, 60.0),
    headroom: float = 40.0,
) -> Adc:
    """A converter whose quiet background is ``noise_steps`` counts (log-uniform), with at
    least ``headroom`` x that to full scale."""
    if rng.random() >= raw_prob:
        return Adc(raw=False)
    p = np.asarray(weights) / np.sum(weights)
    bits = int(bits_choice[int(rng.choice(len(bits_choice), p=p))])
    steps = min(loguniform(rng, *noise_steps), 2.0 ** (bits - 1) / headroom)
    signed = bits >= 16 and rng.random() < 0.8
    if signed:
        offset = float(np.rint(rng.normal(0.0, 2.0 + 0.002 * 2.0 ** (bits - 1))))
    else:
        offset = float(np.rint(2.0 ** (bits - 1) * rng.uniform(0.9, 1.1)))
    return Adc(raw=True, bits=bits, signed=signed, offset=offset, noise_steps=steps)


def _unit(rng: np.random.Generator) -> tuple[float, float, float]:
    v = rng.standard_normal(3)
    v /= np.linalg.norm(v)
    return (float(v[0]), float(v[1]), float(v[2]))


def random_magnetometer(rng: np.random.Generator) -> MagSensor:
    axes: tuple[tuple[float, float, float], ...] = () if rng.random() < 0.7 else (_unit(rng),)
    noise = loguniform(rng, 0.3, 60.0)
    lines: list[Interference] = []
    if rng.random() < 0.6:
        mains = float(rng.choice([50.0, 60.0]))
        lines.append(
            Interference(
                freq_hz=mains * (1.0 + rng.normal(0.0, 2e-4)),
                amplitude_nt=noise * loguniform(rng, 0.5, 20.0),
                direction=_unit(rng),
                harmonics=int(rng.integers(1, 4)),
            )
        )
    for _ in range(int(rng.poisson(0.5))):
        lines.append(
            Interference(
                freq_hz=loguniform(rng, 0.5, 120.0),
                amplitude_nt=noise * loguniform(rng, 0.5, 10.0),
                direction=_unit(rng),
                duty=float(rng.uniform(0.3, 1.0)),
            )
        )
    adc = Adc(raw=False)
    if rng.random() < 0.7:
        steps = loguniform(rng, 0.2, 10.0)
        step = noise / steps
        # Enough range for what is left of Earth's field after the offset compensation and
        # for a car at 1 m: at least +-20 uT.
        bits = int(rng.choice([12, 16, 20, 24], p=[0.2, 0.5, 0.1, 0.2]))
        while (2.0 ** (bits - 1)) * step < 20_000.0 and bits < 32:
            bits += 4
        offset = float(np.rint(rng.uniform(-0.3, 0.3) * 2.0 ** (bits - 1)))
        adc = Adc(raw=True, bits=bits, signed=True, offset=offset, noise_steps=steps)
        spread = rng.normal(0.0, 0.05 * 2.0 ** (bits - 1), len(axes) or 3)
        return MagSensor(
            axes=axes,
            noise_nt=noise,
            interference=tuple(lines),
            adc=adc,
            axis_offsets=tuple(float(v) for v in np.rint(spread)),
        )
    return MagSensor(axes=axes, noise_nt=noise, interference=tuple(lines), adc=adc)


def random_pir(rng: np.random.Generator) -> PirBoard:
    """An analog PIR board: amplifier gain and noise, rails, electrical transients, and
    (mostly) a microcontroller ADC of 10-16 bits over 3.3 V reading it on its mid-rail
    offset."""
    board = _random_board(rng)
    # Drawn last, so that the rest of a site is what it was before transients were drawn.
    transients = loguniform(rng, 10.0, 200.0) if rng.random() < 0.5 else 0.0
    return replace(board, transients_per_h=transients)


def _random_board(rng: np.random.Generator) -> PirBoard:
    gain = loguniform(rng, 1.0, 12.0)
    noise = loguniform(rng, 1.0, 3.0)
    lowpass = loguniform(rng, 0.7, 5.0)
    lens = float(rng.uniform(1.0, 2.0))
    if rng.random() >= 0.7:
        swing = float(rng.uniform(1.0, 2.5))
        return PirBoard(
            gain=gain,
            noise_factor=noise,
            lowpass_hz=lowpass,
            lens_scale=lens,
            rails=(-swing, swing),
        )
    bits = int(rng.choice([10, 12, 16], p=[0.35, 0.45, 0.2]))
    full = 2.0**bits
    volts_per_count = 3.3 / full
    offset = float(np.rint(full / 2 * rng.uniform(0.85, 1.15)))
    # The amplifier swings nearly to ground, but often not up to the converter's top.
    down = offset * volts_per_count * rng.uniform(0.85, 1.0)
    up = (full - 1 - offset) * volts_per_count * rng.uniform(0.25, 1.0)
    return PirBoard(
        gain=gain,
        noise_factor=noise,
        lowpass_hz=lowpass,
        lens_scale=lens,
        rails=(-float(down), float(up)),
        adc=Adc(raw=True, bits=bits, signed=False, offset=offset, noise_steps=0.0),
        volts_per_count=volts_per_count,
    )


def random_site(
    rng: np.random.Generator, setting: str | None = None, slab_share: float = 0.0
) -> Site:
    """A unit as real deployments vary: rates, ground for ``setting`` (any of
    :data:`SETTINGS` when None; floors ``slab_share`` slabs), transducer, converters,
    magnetometer, PIR board."""
    where = (
        setting
        if setting is not None
        else str(rng.choice(list(DRAWN_SETTINGS), p=list(DRAWN_SETTINGS.values())))
    )
    ground = site_ground(rng, where, slab_share)
    seismic_rate = _rate(rng, SEISMIC_RATES, SEISMIC_WEIGHTS)
    pir_rate = _rate(rng, PIR_RATES, (1.0, 1.0, 1.0, 1.0))
    mag_rate = _rate(rng, MAG_RATES, (1.0,) * len(MAG_RATES))
    transducer = random_transducer(rng)
    seismic_adc = random_adc(rng, (10, 12, 16, 24), (0.1, 0.25, 0.35, 0.3))
    return Site(
        setting=where,
        ground=ground,
        seismic_rate=seismic_rate,
        pir_rate=pir_rate,
        mag_rate=mag_rate,
        transducer=transducer,
        seismic_adc=seismic_adc,
        magnetometer=random_magnetometer(rng),
        pir=random_pir(rng),
        seismic_packets=_packets(rng) if seismic_adc.raw else None,
    )


def _packets(rng: np.random.Generator) -> tuple[int, int] | None:
    if PACKET_LOGGERS <= 0.0 or rng.random() >= PACKET_LOGGERS:
        return None  # no draw at all when none are wanted: the other units stay as they were
    packet = int(rng.choice(PACKET_SAMPLES))
    return packet, max(1, round(packet * rng.uniform(*PACKET_LOST)))
