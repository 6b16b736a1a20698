"""A scenario rendered through one unit's hardware (``generate(..., site=...)``).

The same world as without a site (backgrounds, events, truth), rendered at round internal
rates, then seen through the site: the transducer's response, the magnetometer's axes,
noise and interference, the PIR board's gain and rails, resampling to the unit's own rates,
hardware faults, and the converters (raw counts on their offsets when the site has them).
The truth is judged on what the unit records: detectability bands as the transducer passes
them, against backgrounds that include what the hardware adds (``HardwareFloor``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from drivers.recordings.waveforms import DEFAULT_SCALE, Channel, Recording
from hil.scenarios.events import (
    DETECTABLE,
    HardwareFloor,
    add_events,
    background_levels,
    mark_overlaps,
    schedule,
    truth_event,
)
from hil.scenarios.specs import ScenarioSpec
from hil.synth import background as bg
from hil.synth import hardware as hw
from hil.synth import magnetometer as synth_mag
from hil.synth import pir as synth_pir
from hil.synth.ground import FloatArray, band, coloured_noise, loguniform, shape_spectrum
from hil.synth.packets import packetize
from hil.synth.scene import Scene
from hil.synth.site import Site, ground_json


def render_site(
    rng: np.random.Generator,
    scene: Scene,
    spec: ScenarioSpec,
    site: Site,
    backgrounds: tuple[FloatArray, FloatArray, FloatArray],
    meta: dict[str, Any],
    road: tuple[float, float] | None,
    seed: int,
    start_time: float,
) -> Recording:
    seis_bg, pir_bg, mag_bg = backgrounds
    sensor = site.magnetometer
    if site.pir.noise_factor > 1.0:
        pir_bg = pir_bg + _pir_noise(
            rng, scene, synth_pir.NOISE_RMS * math.sqrt(site.pir.noise_factor**2 - 1.0)
        )
    if site.pir.transients_per_h > 0:
        pir_bg = pir_bg + _pir_transients(rng, scene, site.pir.transients_per_h)
    if site.pir.lowpass_hz != synth_pir.LOWPASS_HZ:
        pir_bg = shape_spectrum(pir_bg, scene.pir_rate, hw.pir_response(site.pir))
    mag_bg = hw.project(sensor, mag_bg)
    response = hw.seismic_response(scene)
    rate = scene.seismic_rate
    seis_out = hw.shape_all(seis_bg, rate, response)
    quiet = hw.quiet_rms(seis_out, rate)
    adc = site.seismic_adc
    step = hw.seismic_step(adc, quiet) if adc.raw else None
    mag_step = hw.mag_step(sensor)
    floor = HardwareFloor(
        seismic_ms_per_hz=hw.quant_ms(step) / (0.5 * site.seismic_rate) if step else 0.0,
        pir_ms=hw.pir_floor_ms(site.pir),
        pir_min=synth_pir.NOISE_RMS * max(site.pir.noise_factor, 1.0),
        mag_ms=hw.mag_floor_ms(sensor, mag_step),
        mag_min=max(sensor.noise_nt, synth_mag.NOISE_RMS),
    )
    levels = background_levels(
        scene, seis_bg, pir_bg, mag_bg, road=spec.vehicle_mode == "road", floor=floor
    )
    events = schedule(spec, scene, seed, levels, road)
    truth = [truth_event(ev, span) for ev, span in events]
    mark_overlaps(truth)
    seis_ev = np.zeros_like(seis_bg)
    add_events(events, seis_ev, pir_bg, mag_bg)
    seis_out += hw.shape_all(seis_ev, rate, response)

    d = scene.duration_s
    seis = hw.resample(seis_out, rate, site.seismic_rate, round(d * site.seismic_rate))
    pir = hw.resample(pir_bg[:, None], scene.pir_rate, site.pir_rate, round(d * site.pir_rate))
    n_mag = round(d * site.mag_rate)
    mag = hw.resample(mag_bg, scene.mag_rate, site.mag_rate, n_mag)
    mag += hw.mag_extra(rng, sensor, n_mag, site.mag_rate)

    channels, faults, derived = _channels(
        np.random.default_rng([seed, 2]), scene, spec, site, seis, pir, mag, step, mag_step
    )
    if site.seismic_packets is not None:
        packet, lost = site.seismic_packets
        channels, truth, faults = packetize(
            channels, truth, faults, site.seismic_rate, packet, lost
        )
    meta["faults"] = faults
    meta["scene"] = {
        "setting": site.setting,
        "seismic_components": scene.seismic_components,
        "ground": ground_json(scene.ground),
        "pir_axis_deg": math.degrees(scene.pir_axis) % 360.0,
        "earth_field_nt": list(scene.earth_field_nt),
        "rendered_at_hz": {
            "seismic": scene.seismic_rate,
            "pir": scene.pir_rate,
            "magnetometer": scene.mag_rate,
        },
    }
    if road is not None:
        meta["scene"]["road_m"] = road[0]
    meta["site"] = site.describe()
    meta["site"]["derived"] = {"seismic_quiet_rms": quiet, **derived}
    meta["detectable"] = dict(DETECTABLE)
    meta["counts"] = {
        label: sum(1 for ev in truth if ev.label == label)
        for label in ("footstep", "vehicle", "unknown")
    }
    return Recording(channels=channels, truth=truth, start_time=start_time, meta=meta)


def _pir_noise(rng: np.random.Generator, scene: Scene, rms: float) -> FloatArray:
    """More amplifier noise, shaped like the model's own."""
    rate = scene.pir_rate
    n = scene.n(rate)
    white = coloured_noise(rng, n, rate, lambda f: np.sqrt(1.0 + 0.3 / np.maximum(f, 0.05)), rms)[
        :, 0
    ]
    noise = shape_spectrum(white, rate, lambda f: band(f, 0.05, 12.0).astype(np.complex128))
    return np.asarray(noise * rms / max(float(np.sqrt(np.mean(noise**2))), 1e-12))


def _pir_transients(rng: np.random.Generator, scene: Scene, per_hour: float) -> FloatArray:
    """Electrical transients at a PIR board's output: a step of either sign that the
    board's coupling takes back within a fraction of a second, 5-40 times the noise."""
    rate = scene.pir_rate
    n = scene.n(rate)
    out = np.zeros(n)
    count = int(rng.poisson(per_hour * scene.duration_s / 3600.0))
    for _ in range(count):
        i0 = int(rng.uniform(0.0, n))
        tau = float(rng.uniform(0.05, 0.4))
        size = float(rng.choice([-1.0, 1.0]) * loguniform(rng, 5.0, 40.0) * synth_pir.NOISE_RMS)
        k = np.arange(min(n - i0, int(6 * tau * rate) + 2)) / rate
        out[i0 : i0 + k.size] += size * np.exp(-k / tau)
    return out


def _power_of_ten(x: float) -> float:
    return float(10.0 ** round(math.log10(max(x, 1e-30))))


def _channels(
    rng: np.random.Generator,
    scene: Scene,
    spec: ScenarioSpec,
    site: Site,
    seis: FloatArray,
    pir: FloatArray,
    mag: FloatArray,
    step: float | None,
    mag_step: float | None,
) -> tuple[dict[str, Channel], list[dict[str, Any]], dict[str, Any]]:
    """Faults at the unit's rates, then the converters."""
    f = spec.background.faults
    faults: list[dict[str, Any]] = []
    quiet = hw.quiet_rms(seis, site.seismic_rate)
    clip_level = None if f.clip_factor is None else f.clip_factor * quiet
    valid_seis = np.ones(seis.shape[0], dtype=bool)
    faults += bg.apply_faults(
        rng,
        seis,
        valid_seis,
        site.seismic_rate,
        "geo1",
        clip_level=clip_level,
        spikes_per_h=f.spikes_per_h,
        stuck_per_h=f.stuck_per_h,
        flatline_per_h=f.flatline_per_h,
        dropouts_per_h=f.dropouts_per_h,
    )
    valid_pir = np.ones(pir.shape[0], dtype=bool)
    valid_mag = np.ones(mag.shape[0], dtype=bool)
    for data, valid, r, name in (
        (pir, valid_pir, site.pir_rate, "pir1"),
        (mag, valid_mag, site.mag_rate, "mag1"),
    ):
        faults += bg.apply_faults(
            rng,
            data,
            valid,
            r,
            name,
            clip_level=None,
            spikes_per_h=0.0,
            stuck_per_h=0.0,
            flatline_per_h=0.0,
            dropouts_per_h=f.dropouts_per_h,
        )
    derived: dict[str, Any] = {}
    units = site.transducer.units
    comps = ("Z",) if scene.seismic_components == 1 else ("Z", "N", "E")
    adc = site.seismic_adc
    seis_info: dict[str, Any] = {"units": units, "clip_level": clip_level}
    if adc.raw and step is not None:
        seis = hw.digitize(seis, adc, step)
        seis[~valid_seis] = 0.0
        seis_info = {
            "units": "counts",
            "physical_units": units,
            "units_per_count": step,
            "offset_counts": adc.offset,
            "adc_bits": adc.bits,
            "clip_level": clip_level,
        }
        seis_scale, seis_bits = 1.0, adc.channel_bits
        derived["seismic_units_per_count"] = step
    elif units == "m/s":
        seis_scale, seis_bits = DEFAULT_SCALE["seismic"], None
    else:
        seis_scale, seis_bits = _power_of_ten(quiet / 100.0), None
    board = site.pir
    pir_out = hw.pir_output(pir, board)
    pir_out[~valid_pir] = 0.0
    if board.adc.raw:
        pir_info: dict[str, Any] = {
            "units": "counts",
            "physical_units": "V",
            "units_per_count": board.volts_per_count,
            "offset_counts": board.adc.offset,
            "adc_bits": board.adc.bits,
        }
        pir_scale, pir_bits = 1.0, board.adc.channel_bits
    else:
        pir_info, pir_scale, pir_bits = {"units": "V"}, DEFAULT_SCALE["pir"], None
    axes = hw.mag_axes(site.magnetometer)
    mag_info: dict[str, Any] = {"units": "nT", "axes_ned": axes.tolist()}
    mag_scale, mag_bits = DEFAULT_SCALE["magnetometer"], None
    madc = site.magnetometer.adc
    if madc.raw and mag_step is not None:
        # The sensor's offset compensation leaves the quiet field near its offset.
        ref = np.rint(np.median(mag[valid_mag], axis=0) / mag_step) * mag_step
        offsets = np.zeros(mag.shape[1])
        if site.magnetometer.axis_offsets:
            offsets += np.asarray(site.magnetometer.axis_offsets) * mag_step
        mag = hw.digitize(mag - ref[None, :] + offsets[None, :], madc, mag_step)
        mag_info = {
            "units": "counts",
            "physical_units": "nT",
            "units_per_count": mag_step,
            "offset_counts": (madc.offset + offsets / mag_step).tolist(),
            "compensated_nt": ref.tolist(),
            "adc_bits": madc.bits,
            "axes_ned": axes.tolist(),
        }
        mag_scale, mag_bits = 1.0, madc.channel_bits
        derived["mag_nt_per_count"] = mag_step
    mag[~valid_mag] = 0.0
    mag_comps = ("N", "E", "Z") if not site.magnetometer.axes else ("1",)
    channels = {
        "geo1": Channel(
            "geo1",
            "seismic",
            site.seismic_rate,
            seis,
            seis_scale,
            None if valid_seis.all() else valid_seis,
            comps,
            bits=seis_bits,
            info=seis_info,
        ),
        "pir1": Channel(
            "pir1",
            "pir",
            site.pir_rate,
            pir_out,
            pir_scale,
            None if valid_pir.all() else valid_pir,
            ("I",),
            bits=pir_bits,
            info=pir_info,
        ),
        "mag1": Channel(
            "mag1",
            "magnetometer",
            site.mag_rate,
            mag,
            mag_scale,
            None if valid_mag.all() else valid_mag,
            mag_comps,
            bits=mag_bits,
            info=mag_info,
        ),
    }
    return channels, faults, derived
