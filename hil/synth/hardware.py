"""A :class:`~hil.synth.site.Site`'s hardware applied to the rendered physics.

The world is rendered at a round internal rate (500 or 1000 Hz seismic, 50 or 100 Hz PIR,
the nearest round rate for the magnetometer) and brought to the unit's own rate by FFT
resampling, which is also the anti-alias filter of a rate below it. Then come the
transducer's response, the magnetometer's axes, noise and interference (added at the
unit's rate, so mains folds the way it does in a real slow magnetometer), the PIR board's
gain and rails, and the converters.

The truth is judged on the same signals: ``judge_response`` is the detectability band as
the transducer passes it, and the ``*_floor_ms`` helpers give the power the hardware adds to
the background (noise, interference, quantisation), which the generator adds to the
background levels events are compared with.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from hil.synth.ground import FloatArray, antialias, band, fast_len, smooth_random
from hil.synth.scene import Scene
from hil.synth.site import Adc, MagSensor, PirBoard, Site

Response = Callable[[FloatArray], npt.NDArray[np.complex128]]

MAG_INTERNAL = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0)


def internal_rates(site: Site) -> tuple[float, float, float]:
    """Seismic, PIR and magnetometer rates the physics is rendered at for a site."""
    seis = 500.0 if site.seismic_rate <= 750.0 else 1000.0
    pir = 50.0 if site.pir_rate <= 50.0 else 100.0
    mag = next((r for r in MAG_INTERNAL if r >= site.mag_rate), MAG_INTERNAL[-1])
    return seis, pir, mag


def output_band_hz(scene: Scene) -> float:
    """Highest frequency the seismic channel carries (its anti-alias edge)."""
    rate = (
        scene.seismic_rate
        if scene.site is None
        else min(scene.seismic_rate, scene.site.seismic_rate)
    )
    return 0.45 * rate


def seismic_response(scene: Scene) -> Response:
    """Ground velocity -> seismic output: transducer and anti-alias filter."""
    site = scene.site
    assert site is not None
    aa_rate = min(scene.seismic_rate, site.seismic_rate)
    transducer = site.transducer

    def response(f: FloatArray) -> npt.NDArray[np.complex128]:
        return np.asarray(transducer.response(f) * antialias(f, aa_rate))

    return response


def judge_response(scene: Scene, lo: float, hi: float) -> Response:
    """The band an event's detectability is judged in, as the site's transducer passes it
    (magnitude only) and never above what the channel carries."""
    site = scene.site
    assert site is not None
    top = min(hi, output_band_hz(scene))
    full = seismic_response(scene)

    def response(f: FloatArray) -> npt.NDArray[np.complex128]:
        return np.asarray(band(f, lo, top) * np.abs(full(f))).astype(np.complex128)

    return response


def resample(x: FloatArray, rate_in: float, rate_out: float, n_out: int) -> FloatArray:
    """``x`` (n, columns) at ``rate_in`` to ``n_out`` samples at ``rate_out`` by FFT
    (band-limited; going down, everything above the new Nyquist is removed).

    The straight line through the first and last samples is taken out first and put back
    after, so a drift (Earth's field) does not ring at the ends.
    """
    n_in = x.shape[0]
    if n_in == n_out and rate_in == rate_out:
        return x.copy()
    if n_in < 2:
        return np.repeat(x[:1], n_out, axis=0) if n_in else np.zeros((n_out, x.shape[1]))
    k = np.arange(n_in)[:, None] / (n_in - 1)
    line = x[:1] + (x[-1:] - x[:1]) * k
    spec = np.fft.rfft(x - line, axis=0)
    m = n_out // 2 + 1
    out_spec = np.zeros((m, x.shape[1]), dtype=np.complex128)
    keep = min(m, spec.shape[0])
    out_spec[:keep] = spec[:keep]
    if n_out < n_in and n_out % 2 == 0:
        out_spec[m - 1] = out_spec[m - 1].real  # the new Nyquist bin of a real signal
    y = np.fft.irfft(out_spec, n=n_out, axis=0) * (n_out / n_in)
    t = np.arange(n_out)[:, None] / rate_out
    span = (n_in - 1) / rate_in
    line_out = x[:1] + (x[-1:] - x[:1]) * np.clip(t / span, 0.0, 1.0)
    return np.asarray(y + line_out)


def shape_all(x: FloatArray, rate: float, response: Response) -> FloatArray:
    """Filter every column of ``x`` by ``response`` (zero-padded FFT)."""
    n = x.shape[0]
    if n < 2:
        return x.copy()
    m = fast_len(n)
    spec = np.fft.rfft(x, n=m, axis=0)
    h = response(np.asarray(np.fft.rfftfreq(m, 1.0 / rate), dtype=np.float64))
    return np.asarray(np.fft.irfft(spec * h[:, None], n=m, axis=0)[:n])


# --- converters ----------------------------------------------------------------------------


def quiet_rms(x: FloatArray, rate: float, block_s: float = 5.0) -> float:
    """The quiet level of a channel: median over blocks of the RMS of its first column
    around each block's mean."""
    step = max(1, min(round(block_s * rate), x.shape[0]))
    n = max(1, x.shape[0] // step)
    blocks = x[: n * step, 0].reshape(n, step)
    return float(np.median(np.std(blocks, axis=1)))


def digitize(x: FloatArray, adc: Adc, step: float) -> FloatArray:
    """Counts (as floats) of ``x`` through a converter of ``step`` units per count."""
    counts = np.rint(adc.offset + x / step)
    return np.asarray(np.clip(counts, adc.low, adc.high) + 0.0)  # no -0.0


def quant_ms(step: float) -> float:
    """Mean square of rounding to steps of ``step`` (uniform error)."""
    return step * step / 12.0


def seismic_step(adc: Adc, background_rms: float) -> float:
    """Physical units per count so that the quiet background is ``adc.noise_steps``
    counts."""
    return max(background_rms, 1e-30) / max(adc.noise_steps, 1e-9)


# --- magnetometer --------------------------------------------------------------------------


def mag_axes(sensor: MagSensor) -> FloatArray:
    """(k, 3) unit vectors of the sensor's axes in (north, east, down)."""
    if not sensor.axes:
        return np.eye(3)
    a = np.asarray(sensor.axes, dtype=np.float64)
    return np.asarray(a / np.linalg.norm(a, axis=1, keepdims=True))


def project(sensor: MagSensor, field: FloatArray) -> FloatArray:
    """Field (n, 3) along the sensor's axes: (n, k)."""
    if not sensor.axes:
        return field
    return np.asarray(field @ mag_axes(sensor).T)


def mag_extra(rng: np.random.Generator, sensor: MagSensor, n: int, rate: float) -> FloatArray:
    """The sensor's own noise beyond the physics' 0.4 nT, and its periodic interference,
    at the unit's rate (no anti-alias filter: mains folds to a low line), (n, k) nT."""
    axes = mag_axes(sensor)
    k = axes.shape[0]
    out = rng.standard_normal((n, k)) * math.sqrt(max(sensor.noise_nt**2 - 0.4**2, 0.0))
    t = np.arange(n) / rate
    for line in sensor.interference:
        direction = np.asarray(line.direction, dtype=np.float64)
        gain = axes @ (direction / np.linalg.norm(direction))
        # Mains frequency wanders by a few mHz (folded, the line moves as much); machines
        # start and stop.
        freq = line.freq_hz * (1.0 + 1e-4 * smooth_random(rng, n, rate, corr_s=30.0))
        phase = 2 * np.pi * np.cumsum(freq) / rate
        wave = np.zeros(n)
        for h in range(1, line.harmonics + 1):
            wave += np.sin(h * phase + rng.uniform(0, 2 * np.pi)) / h
        if line.duty < 1.0:
            period = float(rng.uniform(60.0, 600.0))
            on = ((t / period + rng.uniform(0.0, 1.0)) % 1.0) < line.duty
            wave *= on
        out += line.amplitude_nt * wave[:, None] * gain[None, :]
    return np.asarray(out)


def mag_floor_ms(sensor: MagSensor, step: float | None) -> float:
    """Per-axis mean square the sensor adds to the background: its noise beyond the
    physics', interference (averaged over its duty cycle), quantisation."""
    axes = mag_axes(sensor)
    ms = max(sensor.noise_nt**2 - 0.4**2, 0.0)
    for line in sensor.interference:
        direction = np.asarray(line.direction, dtype=np.float64)
        gain = axes @ (direction / np.linalg.norm(direction))
        harm = sum(1.0 / h**2 for h in range(1, line.harmonics + 1))
        ms += line.duty * line.amplitude_nt**2 / 2.0 * harm * float(np.mean(gain**2))
    if step is not None:
        ms += quant_ms(step)
    return ms


def mag_step(sensor: MagSensor) -> float | None:
    """nT per count of a raw magnetometer (None: float output)."""
    if not sensor.adc.raw:
        return None
    return sensor.noise_nt / max(sensor.adc.noise_steps, 1e-9)


# --- PIR -------------------------------------------------------------------------------------


def pir_response(board: PirBoard) -> Response:
    """The board's own low-pass in place of the model's 5-Hz one (1 where they agree)."""
    from hil.synth.pir import LOWPASS_HZ

    def response(f: FloatArray) -> npt.NDArray[np.complex128]:
        return np.asarray(((1.0 + 1j * f / LOWPASS_HZ) / (1.0 + 1j * f / board.lowpass_hz)) ** 2)

    return response


SATURATION_KNEE = 20.0
"""Sharpness of the amplifier's approach to its rails (higher: closer to hard clipping)."""


def pir_output(v: FloatArray, board: PirBoard) -> FloatArray:
    """The board's output: gain, saturation at its (possibly unequal) rails with a sharp
    knee, and the converter's counts on the mid-rail offset when it has one."""
    lo, hi = board.rails
    x = board.gain * v
    rail = np.where(x >= 0, hi, -lo)
    p = SATURATION_KNEE
    out = x / (1.0 + np.abs(x / rail) ** p) ** (1.0 / p)
    if not board.adc.raw:
        return np.asarray(out)
    return digitize(out, board.adc, board.volts_per_count)


def pir_floor_ms(board: PirBoard) -> float:
    """Quantisation of the PIR converter, in the model's volts (before the board's gain)."""
    if not board.adc.raw:
        return 0.0
    return quant_ms(board.volts_per_count / board.gain)
