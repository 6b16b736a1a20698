"""Fast start: the noise level is learnt from the quiet parts of a stream's first seconds, so
an event at the very start of a file, of a service or after a reconnect is detected."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.config import DspConfig
from dsp.detector import StreamingDetector
from dsp.magnetic import G_MEAN, MagChain
from dsp.pir import PirChain
from dsp.priming import quiet_level
from dsp.records import SensorSpec
from dsp.sample_chain import QUIET_FLATLINE_S
from dsp.seismic import SeismicChain
from dsp.seismic_kernel import B_FLOOR
from hil.analysis import OFFLINE_PRIME_S, run_detector
from hil.clips import cut
from hil.scenarios import generate


@pytest.fixture(scope="module")
def demo():
    # 15 s of quiet, then a walker at 3.6 m from 17.2 s to 43.7 s (seed 1, checked below).
    rec = generate("demo", 75.0, seed=1)
    walker = rec.truth[0]
    assert (walker.label, walker.source) == ("footstep", "walker")
    assert walker.range_m < 5.0 and abs(walker.t0 - 17.2) < 0.5
    return rec


def _geophone_only(rec):
    return rec.only(["seismic"])


def test_a_clip_that_starts_with_its_event_is_detected(demo):
    # What a triggered recorder keeps: 10 s from half a second before the walker.
    t0 = demo.truth[0].t0 - 0.5
    clip = _geophone_only(cut(demo, t0, t0 + 10.0))
    found = run_detector(clip, prime_s=OFFLINE_PRIME_S).detections
    assert [d.cls for d in found] == ["footstep"]
    assert found[0].t0 < 2.0
    # Warming up on the clip instead, the detector is deaf for its first 5 s and learns
    # the walker's steps as the noise floor.
    cold = DspConfig.model_validate({"input": {"prime_s": 0.0}})
    assert all(d.t0 >= 5.0 for d in run_detector(clip, cold).detections)


def test_a_record_that_ends_as_someone_starts_walking_past_reports_them_only_if_heard(demo):
    # The end of a record may cut an event short: its length is unknown, so the 2-s minimum
    # does not apply, but its first fraction of a second is too little to name.
    a = demo.truth[0].t0 - 8.0
    whole = run_detector(_geophone_only(cut(demo, a, a + 30.0)), prime_s=OFFLINE_PRIME_S)
    start = whole.detections[0].t0
    for heard_s, expected in ((0.4, []), (1.5, ["footstep"])):
        clip = _geophone_only(cut(demo, a, a + start + heard_s))
        found = run_detector(clip, prime_s=OFFLINE_PRIME_S).detections
        assert [d.cls for d in found] == expected, heard_s


def test_a_live_unit_that_starts_as_someone_walks_past_reports_them(demo):
    # The service cannot look ahead: it surveys its first prime_s (5 s) before running
    # them, in the drivers' 0.1-s blocks.
    t0 = demo.truth[0].t0 - 1.0
    clip = _geophone_only(cut(demo, t0, t0 + 20.0))
    found = run_detector(clip, block_s=0.1).detections
    assert [d.cls for d in found] == ["footstep"]
    assert found[0].t0 < 3.0


def test_a_sensor_back_from_an_outage_learns_again(demo):
    # The geophone delivers the quiet start, then drops out for 30 s, and comes back just
    # as the walker is there: after the outage the chain starts afresh and primes again.
    geo = demo.channels["geo1"]
    det = StreamingDetector(DspConfig(), [SensorSpec("geo1", "seismic", geo.rate, 1)])
    rate = geo.rate
    quiet = geo.data[: round(10.0 * rate)]
    found = det.feed("geo1", 0.0, quiet)
    back = round((demo.truth[0].t0 - 0.5) * rate)
    lost = back - quiet.shape[0]
    for a in range(back, round(45.0 * rate), round(0.1 * rate)):
        block = geo.data[a : a + round(0.1 * rate)]
        found += det.feed("geo1", a / rate, block, gap=lost if a == back else 0)
    found += det.flush()
    assert [d.cls for d in found] == ["footstep"]
    assert any(f.kind == "gap" for f in det.pop_flags())


def _live_geophone(counts, rate):
    """A unit's geophone delivering ``counts`` in the drivers' 0.1-s blocks: detections,
    flags, and when the detector first ran anything (None: it held everything)."""
    det = StreamingDetector(DspConfig(), [SensorSpec("geo1", "seismic", rate, 1)])
    found, ran_at = [], None
    step = round(0.1 * rate)
    for a in range(0, counts.size, step):
        found += det.feed("geo1", a / rate, counts[a : a + step, None])
        if ran_at is None and det.status()["sensors"]["geo1"]["samples"]:
            ran_at = a / rate
    found += det.flush()
    return found, det.pop_flags(), ran_at


def test_a_live_unit_whose_coarse_converter_reads_one_value_until_someone_comes_hears_them(demo):
    # A coarse converter in a quiet place reads one value: its first 5 s teach nothing,
    # so the stream waits for its first change and primes on what follows. Before, the
    # chain warmed up, the 17 s of one value were called a dead sensor, and the walker's
    # first 6 s were lost in the settling after it.
    rate = demo.channels["geo1"].rate
    x = demo.channels["geo1"].data[: round(50.0 * rate), 0]
    counts = np.round(512.0 + x / (8.0 * np.std(x[: round(15.0 * rate)])))
    walker = demo.truth[0]
    assert np.unique(counts[: round(walker.t0 * rate)]).size == 1
    found, flags, _ = _live_geophone(counts, rate)
    assert found[0].cls == "footstep"
    assert walker.t0 - 0.5 < found[0].t0 < walker.t0 + 1.0
    # One detection for the whole walk, ended with it: the noise floor did not sink
    # without end while the converter read one value.
    assert walker.t1 - 2.0 < found[0].t1 < walker.t1 + 3.0
    assert not [f for f in flags if f.kind == "flatline"]


def test_a_geophone_dead_at_the_start_is_a_flat_line_and_heard_once_it_is_back(demo):
    # The cable is loose for the first 3 s (the converter reads 0), then the unit hears
    # its field: the dead start is flagged, the jump back is not an event, and the walker
    # 17 s later is found where he is. (Before, the first 5 s were primed on, half dead
    # and half a jump, and one 48-s detection began 15 s before the walker.)
    rate = demo.channels["geo1"].rate
    x = demo.channels["geo1"].data[: round(50.0 * rate), 0]
    alive = np.round(2048.0 + x / (0.2 * np.std(x[: round(15.0 * rate)])))
    counts = np.concatenate([np.zeros(round(3.0 * rate)), alive])
    found, flags, _ = _live_geophone(counts, rate)
    walker = demo.truth[0]
    assert found[0].cls == "footstep"
    assert abs(found[0].t0 - (walker.t0 + 3.0)) < 1.0
    # ... and the field coming back is not taken for clipping while a running mean that
    # started on the dead value would catch up (14 s of `clipped` before).
    assert [(f.kind, f.t0, f.t1) for f in flags] == [("flatline", 0.0, 3.0)]


def test_a_dead_start_with_a_dropout_after_it_still_has_its_input_checks(demo):
    # Dead for 3 s, then the field with 0.5 s lost; later the converter hits its end. The
    # input checks' running mean starts at the level that follows the dead start, which
    # the lost samples must not make unknown: the clipping is still seen.
    rate = demo.channels["geo1"].rate
    x = demo.channels["geo1"].data[: round(30.0 * rate), 0]
    alive = np.round(2048.0 + x / (0.2 * np.std(x[: round(15.0 * rate)])))
    alive[round(2.0 * rate) : round(2.5 * rate)] = np.nan
    stuck = round(20.0 * rate)
    alive[stuck : stuck + 10] = 4095.0
    counts = np.concatenate([np.zeros(round(3.0 * rate)), alive])
    _, flags, _ = _live_geophone(counts, rate)
    assert [(f.kind, f.t0) for f in flags if f.kind != "clipped"] == [
        ("flatline", 0.0),
        ("nan", 5.0),
    ]
    assert [f.kind for f in flags if abs(f.t0 - 23.0) < 0.1] == ["clipped"]


def test_a_geophone_dead_from_the_start_is_not_waited_on_for_ever():
    # One value for 70 s: held for its first change for at most a minute (QUIET_FLATLINE_S),
    # then run, and reported as one flat line from its first sample.
    rate = 250.0
    found, flags, ran_at = _live_geophone(np.full(round(70.0 * rate), 2048.0), rate)
    assert found == []
    assert ran_at is not None and ran_at <= QUIET_FLATLINE_S + 1.0
    assert [(f.kind, f.t0, f.t1) for f in flags] == [("flatline", 0.0, 70.0)]


def test_the_quiet_level_is_the_background_even_when_an_event_fills_most_of_it():
    rng = np.random.default_rng(3)
    noise = rng.chisquare(4, size=(5000, 1)) / 4.0  # frame energies of a noise of mean 1
    busy = noise.copy()
    busy[: int(0.8 * busy.shape[0])] *= 50.0  # an event 17 dB up fills 80 % of it
    assert quiet_level(noise, 10)[0] == pytest.approx(1.0, rel=0.1)
    assert quiet_level(busy, 10)[0] == pytest.approx(1.0, rel=0.25)


def test_a_seismic_chain_primed_on_a_busy_stretch_takes_its_quiet_floor():
    rng = np.random.default_rng(4)
    rate = 500.0
    x = rng.standard_normal(int(20 * rate)) * 1e-7
    quiet = SeismicChain("g", rate, DspConfig())
    assert quiet.prime(x)
    taps = x.copy()
    for t in np.arange(0.7, 19.0, 0.55):  # steps all along, 30 dB over the noise
        i = int(t * rate)
        taps[i : i + 40] += 3e-6 * np.sin(np.arange(40) * 2 * np.pi * 25 / rate)
    busy = SeismicChain("g", rate, DspConfig())
    assert busy.prime(taps)
    floor = B_FLOOR
    # The bands the impacts ring in are quiet between steps; the lowest band rings on.
    np.testing.assert_allclose(busy.bst[1:, floor], quiet.bst[1:, floor], rtol=0.6)
    assert busy.bst[0, floor] < 10.0 * quiet.bst[0, floor]
    # Too little to learn from: the chain warms up as it goes.
    assert not SeismicChain("g", rate, DspConfig()).prime(x[:100])
    assert not SeismicChain("g", rate, DspConfig()).prime(np.full(5000, 7.0))


def test_a_pir_in_raw_counts_on_a_dc_offset_starts_without_a_transient():
    # A 12-bit converter at mid-rail: 2048 counts and a few counts of noise.
    rng = np.random.default_rng(5)
    x = np.round(2048.0 + rng.standard_normal(100 * 60) * 4.0)
    chain = PirChain("pir1", 100.0, DspConfig())
    assert chain.prime(x[:500])
    events, _ = chain.feed(x)
    assert events == []
    cold = PirChain("pir1", 100.0, DspConfig())
    assert cold.feed(x)[0] == []


def test_a_magnetometer_in_raw_counts_learns_its_baseline_from_the_bulk():
    rng = np.random.default_rng(6)
    rate = 10.65
    n = int(40 * rate)
    x = np.array([735.0, 431.0, 533.0]) + rng.standard_normal((n, 3)) * 3.0
    bump = np.exp(-0.5 * ((np.arange(n) / rate - 3.0) / 0.6) ** 2)
    x[:, 0] += 150.0 * bump  # a car passing 3 s into the clip
    chain = MagChain("mag1", rate, DspConfig())
    assert chain.prime(x)
    np.testing.assert_allclose(chain.st[:3], [735.0, 431.0, 533.0], atol=3.0)
    events, _ = chain.feed(x)
    assert len(events) == 1 and 1.5 < events[0].t0 < 3.0


def _parking(rate: float, arrive: float, leave: float, seconds: float) -> np.ndarray:
    """One axis in raw counts: a car drives in at ``arrive`` (the field bumps, then steps
    by -230 counts) and leaves at ``leave`` (the reverse); noise of 8 counts."""
    t = np.arange(int(seconds * rate)) / rate
    x = 620.0 + np.random.default_rng(8).standard_normal(t.size) * 8.0
    stay = (t >= arrive) & (t < leave)
    x[stay] -= 230.0
    for at in (arrive, leave):
        x += 90.0 * np.exp(-0.5 * ((t - at) / 0.5) ** 2)
    return x[:, None]


def test_a_car_that_parks_for_half_a_clip_is_heard_arriving_and_leaving() -> None:
    # Against the median of the clip, the stay was the anomaly: the threshold it set was
    # higher than either step, and nothing was reported.
    rate = 11.1
    x = _parking(rate, 12.0, 40.0, 55.0)
    chain = MagChain("mag1", rate, DspConfig())
    assert chain.prime(x)
    assert abs(chain.st[0] - 620.0) < 5.0  # the field before the car came
    events, _ = chain.feed(x)
    assert events and events[0].t0 < 13.0  # its arrival
    assert any(38.0 < e.t0 < 42.0 or e.t0 < 40.0 < e.t1 for e in events)  # and departure


def test_a_car_that_parks_is_seen_on_the_axis_it_moves_whatever_the_others_carry() -> None:
    # Three axes: the car steps the first by 100 counts (noise 8) and stays to the end; the
    # third carries interference of 120. Against the norm of all three the step is within
    # the noise; on its own axis it is not, and the baseline is the field before it came.
    rate = 11.1
    t = np.arange(int(55 * rate)) / rate
    rng = np.random.default_rng(10)
    x = np.column_stack(
        [
            620.0 - 100.0 * (t >= 12.0) + rng.standard_normal(t.size) * 8.0,
            140.0 + rng.standard_normal(t.size) * 8.0,
            200.0 + rng.standard_normal(t.size) * 120.0,
        ]
    )
    chain = MagChain("mag1", rate, DspConfig())
    assert chain.prime(x)
    assert abs(chain.st[0] - 620.0) < 10.0  # not the parked car's 520


def test_a_field_that_wanders_keeps_the_whole_stretch_as_its_noise() -> None:
    # A slow wander (a ramp of 120 counts over the stretch) is no step: the noise is taken
    # about the median of all, as before, and nothing in it is reported.
    rate = 11.1
    t = np.arange(int(60 * rate)) / rate
    x = (500.0 + 2.0 * t + np.random.default_rng(9).standard_normal(t.size) * 8.0)[:, None]
    wandering = MagChain("mag1", rate, DspConfig())
    assert wandering.prime(x)
    flat = MagChain("mag1", rate, DspConfig())
    assert flat.prime(x - 2.0 * t[:, None])
    assert wandering.st[G_MEAN] > 2.0 * flat.st[G_MEAN]  # the wander counts in its noise
    events, _ = wandering.feed(x)
    assert events == []


def test_a_one_axis_magnetometer_that_reads_one_value_until_a_car_comes_reports_it():
    # A coarse roadside magnetometer (2-count steps) reads -8 for its first 16 s, then
    # flickers a step either way; a car passes at 17-20 s. The flat start is its quiet,
    # learnt from, not a dead sensor (which would be flagged and not learnt from, and the
    # car would fall in the settling after it).
    rng = np.random.default_rng(7)
    rate = 200.0
    t = np.arange(int(25 * rate)) / rate
    x = -8.0 + 2.0 * np.round(rng.standard_normal(t.size) * 0.6)
    x[t < 16.0] = -8.0
    x += 2.0 * np.round(15.0 * np.exp(-0.5 * ((t - 18.5) / 0.8) ** 2))
    det = StreamingDetector(DspConfig(), [SensorSpec("mag1", "magnetometer", rate, 1)])
    found = []
    for a in range(0, t.size, 20):
        found += det.feed("mag1", a / rate, x[a : a + 20, None])
    found += det.flush()
    assert [d.cls for d in found] == ["vehicle"]
    assert 16.5 < found[0].t0 < 18.5
    assert det.pop_flags() == []


def test_a_pir_clip_half_filled_by_a_crossing_is_primed_on_its_quiet_seconds():
    # A 10-bit board's output at 525 counts, a few counts of noise, and someone crossing its
    # zones from 1.5 s to 7.5 s of a 12.6-s clip: swings of 100 counts, 0.8 s per lobe.
    rng = np.random.default_rng(7)
    rate = 100.0
    t = np.arange(int(12.6 * rate)) / rate
    quiet = 525.0 + rng.standard_normal(t.size) * 4.0
    crossing = (t > 1.5) & (t < 7.5)
    x = np.round(quiet + np.where(crossing, 100.0 * np.sin(2 * np.pi * 0.6 * (t - 1.5)), 0.0))
    empty = PirChain("pir1", rate, DspConfig())
    assert empty.prime(np.round(quiet))
    busy = PirChain("pir1", rate, DspConfig())
    assert busy.prime(x)
    # The spread of the whole clip is 12 x its noise; the quiet seconds (and the band-pass
    # settling after the crossing) give twice it at most.
    assert busy.status()["noise_rms"] < 2.5 * empty.status()["noise_rms"]
    events, _ = busy.feed(x)
    assert len(events) == 1 and events[0].t0 < 2.5 and events[0].features["pir_lobes"] >= 5
    # A board stuck on one count teaches nothing: the chain warms up instead.
    assert not PirChain("pir1", rate, DspConfig()).prime(np.full(500, 525.0))


def test_a_pir_whose_room_noise_comes_and_goes_is_primed_above_its_bursts():
    # An empty room: the output's noise is 2.7 times louder every other 2 s (air moving).
    # The bursts are part of the level to stand above; primed on the quiet seconds alone,
    # the chain reports a few of them.
    rng = np.random.default_rng(9)
    rate = 100.0
    n = int(20.0 * rate)
    level = np.where((np.arange(n) // int(2.0 * rate)) % 2 == 0, 1.5, 4.0)
    x = np.round(527.0 + rng.standard_normal(n) * level)
    chain = PirChain("pir1", rate, DspConfig())
    assert chain.prime(x)
    events, _ = chain.feed(x)
    assert events == []
