"""Sites: drawn deterministically, honoured by the generator, the truth judged on what the
unit records."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from hil.scenarios import generate
from hil.scenarios.generator import scenario_site
from hil.scenarios.specs import SPECS
from hil.synth import hardware
from hil.synth.ground import band, shape_spectrum
from hil.synth.site import (
    MAG_RATES,
    PIR_RATES,
    SEISMIC_RATES,
    Adc,
    Interference,
    MagSensor,
    PirBoard,
    Site,
    Transducer,
    floor_ground,
    random_site,
)


def _near(rate: float, nominal: tuple[float, ...]) -> bool:
    return any(abs(rate / r - 1.0) <= 0.0301 for r in nominal)


def test_random_site_is_deterministic_per_seed() -> None:
    a = random_site(np.random.default_rng(5), "road")
    b = random_site(np.random.default_rng(5), "road")
    c = random_site(np.random.default_rng(6), "road")
    assert a == b
    assert a != c
    assert scenario_site("indoor", 3) == scenario_site("indoor", 3)
    assert scenario_site("indoor", 3).setting == "building"
    # Two scenarios of one seed are not recorded through the same unit.
    assert (
        scenario_site("patrol", 3).seismic_rate != scenario_site("roadside", 3).seismic_rate
        or scenario_site("patrol", 3).transducer != scenario_site("roadside", 3).transducer
    )


def test_random_sites_span_the_variation_real_units_show() -> None:
    sites = [random_site(np.random.default_rng(i)) for i in range(400)]
    assert {s.setting for s in sites} == {"field", "road", "building"}
    assert all(_near(s.seismic_rate, SEISMIC_RATES) for s in sites)
    assert all(_near(s.pir_rate, PIR_RATES) for s in sites)
    assert all(_near(s.mag_rate, MAG_RATES) for s in sites)
    assert any(s.seismic_rate != round(s.seismic_rate) for s in sites)  # node clocks
    assert {s.transducer.kind for s in sites} == {"geophone", "accelerometer"}
    naturals = [s.transducer.natural_hz for s in sites]
    assert 4.5 <= min(naturals) < 6 and 12 < max(naturals) <= 14
    assert any(s.transducer.highpass_hz > 0 for s in sites)
    raw = [s.seismic_adc for s in sites if s.seismic_adc.raw]
    assert 0.5 < len(raw) / len(sites) < 0.9
    assert {a.bits for a in raw} == {10, 12, 16, 24}
    steps = [a.noise_steps for a in raw]
    assert min(steps) < 0.4 and max(steps) > 20
    assert all(a.low <= a.offset <= a.high for a in raw)
    assert any(s.magnetometer.n_axes == 1 for s in sites)
    assert any(s.magnetometer.interference for s in sites)
    assert any(s.pir.adc.raw and s.pir.adc.bits == 10 for s in sites)
    grounds = [s.ground for s in sites if s.ground is not None]
    qs = [g.q for g in grounds]
    assert min(qs) < 10 and max(qs) > 60
    floors = [s.ground for s in sites if s.setting == "building" and s.ground is not None]
    assert floors and all(g.mode_gain is not None and g.mode_q >= 8 for g in floors)


def test_a_share_of_floors_can_be_stiff_slabs() -> None:
    rng = np.random.default_rng(4)
    floors = [random_site(rng, "building", slab_share=0.35).ground for _ in range(200)]
    # Suspended floors ring (mode Q 8-25, fundamental 6-22 Hz); stiff slabs barely do.
    ringing = [g for g in floors if g is not None and g.mode_q >= 8 and g.modes_hz[0] <= 22]
    slabs = [g for g in floors if g is not None and g.mode_q <= 5 and g.modes_hz[0] >= 18]
    assert len(ringing) + len(slabs) == len(floors)
    assert 0.25 < len(slabs) / len(floors) < 0.45
    # Without slabs a floor is drawn exactly as it always was.
    assert floor_ground(np.random.default_rng(9)) == floor_ground(
        np.random.default_rng(9), slab_share=0.0
    )


def test_transducer_responses() -> None:
    f = np.array([1.0, 2.0, 50.0, 100.0])
    geo = np.abs(Transducer("geophone", natural_hz=10.0, damping=0.7).response(f))
    assert geo[2] == pytest.approx(1.0, rel=0.05) and geo[3] == pytest.approx(1.0, rel=0.02)
    assert geo[1] / geo[0] == pytest.approx(4.0, rel=0.1)  # f^2 below the natural frequency
    acc = np.abs(Transducer("accelerometer").response(f))
    assert acc[3] / acc[2] == pytest.approx(2.0)
    hp = np.abs(Transducer("geophone", natural_hz=4.5, highpass_hz=20.0).response(f))
    assert hp[1] < 0.02 and hp[3] > 0.9


def test_a_default_site_renders_what_no_site_renders() -> None:
    """Same world, same ideal unit; only the PIR's approach to its rails differs (a real
    board's sharp knee against the model's soft one)."""
    a = generate("patrol", 120.0, 3, site=Site())
    b = generate("patrol", 120.0, 3)
    for name, ch in b.channels.items():
        assert a.channels[name].rate == ch.rate
        x, y = a.channels[name].data, ch.data
        rtol = 1e-6
        if name == "pir1":
            linear = np.abs(y) < 0.05
            x, y, rtol = x[linear], y[linear], 1e-3
        assert np.allclose(x, y, rtol=rtol, atol=1e-6 * ch.data.std())
    assert [(e.label, e.t0, e.t1) for e in a.truth] == [(e.label, e.t0, e.t1) for e in b.truth]


RAW_SITE = Site(
    setting="building",
    ground=floor_ground(np.random.default_rng(1)),
    seismic_rate=4310.34,
    pir_rate=20.0,
    mag_rate=10.65,
    transducer=Transducer("geophone", natural_hz=14.0, damping=0.4),
    seismic_adc=Adc(raw=True, bits=12, signed=False, offset=2180.0, noise_steps=0.5),
    magnetometer=MagSensor(
        axes=((0.0, 0.6, 0.8),),
        noise_nt=5.0,
        interference=(Interference(50.0, 40.0, (0.0, 0.0, 1.0)),),
        adc=Adc(raw=True, bits=16, signed=True, offset=-1200.0, noise_steps=2.0),
    ),
    pir=PirBoard(
        gain=3.0,
        lowpass_hz=1.5,
        rails=(-1.55, 0.6),
        adc=Adc(raw=True, bits=10, signed=False, offset=520.0, noise_steps=0.0),
        volts_per_count=3.3 / 1024,
    ),
)


@pytest.fixture(scope="module")
def raw_indoor():
    return generate("indoor", 300.0, 21, site=RAW_SITE)


def test_site_rates_and_raw_counts_are_honoured(raw_indoor) -> None:
    rec = raw_indoor
    geo, pir, mag = rec.channels["geo1"], rec.channels["pir1"], rec.channels["mag1"]
    assert (geo.rate, pir.rate, mag.rate) == (4310.34, 20.0, 10.65)
    assert len(geo) == round(300.0 * 4310.34) and len(mag) == round(300.0 * 10.65)
    for ch in (geo, pir, mag):
        assert np.array_equal(ch.data, np.rint(ch.data))
        assert ch.scale == 1.0 and ch.units == "counts"
        assert ch.info["physical_units"] in ("m/s", "V", "nT")
    # 12-bit unsigned converter on its offset, the quiet background half a step.
    assert geo.bits == 13 and geo.data.min() >= 0 and geo.data.max() <= 4095
    assert abs(float(np.median(geo.data)) - 2180.0) <= 1.0
    quiet = hardware.quiet_rms(geo.data - 2180.0, geo.rate)
    assert 0.2 < quiet < 1.2
    # A single axis, with its offset.
    assert mag.data.shape == (len(mag), 1) and mag.components == ("1",)
    assert abs(float(np.median(mag.data)) + 1200.0) < 20.0
    # 10-bit PIR on its mid-rail offset, within the amplifier's rails.
    lo = 520.0 - 1.55 / (3.3 / 1024)
    hi = 520.0 + 0.6 / (3.3 / 1024)
    assert abs(float(np.median(pir.data)) - 520.0) < 15.0
    assert lo - 1 <= pir.data.min() and pir.data.max() <= hi + 1
    assert rec.meta["site"]["seismic_rate"] == 4310.34
    assert rec.meta["site"]["derived"]["seismic_units_per_count"] > 0


def test_mains_folds_into_a_slow_magnetometer(raw_indoor) -> None:
    """50 Hz sampled at 10.65 Hz without an anti-alias filter lands at 3.25 Hz."""
    x = raw_indoor.channels["mag1"].data[:, 0]
    x = x - x.mean()
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / 10.65)
    peak = f[np.argmax(spec * (f > 0.5))]
    assert peak == pytest.approx(abs(50.0 - 5 * 10.65), abs=0.05)


def test_truth_is_judged_on_what_the_unit_records(raw_indoor) -> None:
    """Footsteps the truth calls seismically detectable stand out of the recorded counts
    in the band they were judged in; a converter so coarse that its rounding buries them
    takes the truth with it."""
    rec = raw_indoor
    geo = rec.channels["geo1"]
    x = geo.data[:, :1] - np.median(geo.data)
    filtered = shape_spectrum(x, geo.rate, lambda f: band(f, 6.0, 45.0).astype(complex))[:, 0]
    step = round(0.25 * geo.rate)
    env = np.abs(filtered[: filtered.size // step * step]).reshape(-1, step).max(axis=1)
    blocks = filtered[: filtered.size // (20 * step) * 20 * step].reshape(-1, 20 * step)
    floor = float(np.median(np.sqrt(np.mean(blocks**2, axis=1))))
    seen = [ev for ev in rec.truth if "seismic" in ev.extra["sensors"]]
    assert len(seen) >= 5
    for ev in seen:
        t0, t1 = ev.extra["spans"]["seismic"]
        assert env[int(t0 / 0.25) : int(t1 / 0.25) + 1].max() > 3.0 * floor, ev
    # The same world at 100 Hz through a converter whose step is 30 x the quiet background
    # (at 4.3 kHz most of the rounding error would fall outside the footsteps' band).
    coarse = replace(
        RAW_SITE,
        seismic_rate=100.0,
        seismic_adc=replace(RAW_SITE.seismic_adc, noise_steps=1 / 30),
    )
    muted = generate("indoor", 300.0, 21, site=coarse)
    heard = sum("seismic" in ev.extra["sensors"] for ev in muted.truth)
    assert heard / len(muted.truth) < 0.5 * len(seen) / len(rec.truth)


def test_generate_with_a_site_is_deterministic() -> None:
    a = generate("roadside", 120.0, 4, site="random")
    b = generate("roadside", 120.0, 4, site="random")
    for name, ch in a.channels.items():
        assert np.array_equal(ch.data, b.channels[name].data)
    assert [ev.to_json() for ev in a.truth] == [ev.to_json() for ev in b.truth]
    assert a.meta["site"] == b.meta["site"]


def test_float_sites_keep_physical_units() -> None:
    site = Site(transducer=Transducer("accelerometer"), seismic_rate=200.0, mag_rate=5.0)
    rec = generate("noise-quiet", 60.0, 2, site=site)
    geo = rec.channels["geo1"]
    assert geo.units == "m/s^2" and geo.rate == 200.0
    assert geo.clipped_fraction() == 0.0
    assert rec.channels["mag1"].units == "nT" and rec.channels["mag1"].data.shape[1] == 3
    assert 30_000 < np.linalg.norm(rec.channels["mag1"].data.mean(axis=0)) < 70_000


def test_resampling_keeps_a_tone_and_a_drift() -> None:
    t = np.arange(5000) / 500.0
    x = np.stack([np.sin(2 * np.pi * 7.0 * t), 1000.0 + 3.0 * t], axis=1)
    y = hardware.resample(x, 500.0, 123.4, round(10.0 * 123.4))
    ty = np.arange(y.shape[0]) / 123.4
    inner = (ty > 0.5) & (ty < 9.5)
    assert np.allclose(y[inner, 0], np.sin(2 * np.pi * 7.0 * ty[inner]), atol=0.02)
    assert np.allclose(y[:, 1], 1000.0 + 3.0 * np.minimum(ty, t[-1]), atol=0.05)


def test_pir_board_saturates_at_its_rails() -> None:
    board = PirBoard(gain=4.0, rails=(-1.0, 0.5))
    v = np.linspace(-3.0, 3.0, 601)
    out = hardware.pir_output(v, board)
    assert out.min() >= -1.0 and out.max() <= 0.5
    assert out[-1] == pytest.approx(0.5, rel=1e-3) and out[0] == pytest.approx(-1.0, rel=1e-3)
    small = np.abs(v) < 0.02
    assert np.allclose(out[small], 4.0 * v[small], rtol=0.01)


def test_every_scenario_renders_through_a_random_site() -> None:
    for name in SPECS:
        rec = generate(name, 40.0, 7, site="random")
        site = scenario_site(name, 7)
        assert rec.channels["geo1"].rate == site.seismic_rate
        assert rec.meta["scene"]["setting"] == SPECS[name].setting
        for ch in rec.channels.values():
            assert np.all(np.isfinite(ch.data))
        if not math.isclose(site.mag_rate, rec.channels["mag1"].rate):
            raise AssertionError(name)
