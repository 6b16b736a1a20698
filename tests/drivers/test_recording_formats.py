"""Recording formats: lossless round trips, content sniffing, and clear refusals."""

from __future__ import annotations

import io
import json
import struct
import warnings
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from drivers.errors import RecordingError
from drivers.recordings import read_recording, sniff, write_recording
from drivers.recordings.waveforms import Channel, Recording, TruthEvent, read_truth
from hil.scenarios import generate


@pytest.fixture(scope="module")
def rec() -> Recording:
    # The faults scenario has a clipped, rescaled geophone; a dropout (invalid samples) in
    # the middle of every channel makes it the hardest case for a round trip.
    rec = generate("noise-faults", 90.0, seed=5)
    for ch in rec.channels.values():
        valid = np.ones(len(ch), dtype=bool) if ch.valid is None else ch.valid
        a = len(ch) // 3
        valid[a : a + len(ch) // 10] = False
        ch.data[~valid] = 0.0
        ch.valid = valid
    return rec


def _same_channels(a: Recording, b: Recording, names: list[str]) -> None:
    for name in names:
        ca, cb = a.channels[name], b.channels[name]
        assert (cb.kind, cb.rate, cb.components) == (ca.kind, ca.rate, ca.components)
        assert cb.scale == pytest.approx(ca.scale, rel=1e-12)
        assert np.array_equal(ca.to_counts(), cb.to_counts())
        va = ca.valid if ca.valid is not None else np.ones(len(ca), bool)
        vb = cb.valid if cb.valid is not None else np.ones(len(cb), bool)
        assert np.array_equal(va, vb)


def test_npz_round_trip_is_exact_with_meta(rec: Recording, tmp_path: Path) -> None:
    path = write_recording(rec, tmp_path / "r.npz")
    back = read_recording(path)
    assert list(back.channels) == ["geo1", "pir1", "mag1"]
    for name, ch in rec.channels.items():
        assert np.array_equal(ch.data, back.channels[name].data)
    _same_channels(rec, back, list(rec.channels))
    assert back.start_time == rec.start_time
    assert back.meta["scenario"] == "noise-faults"


def test_mseed_round_trip_is_bit_exact_in_counts_rate_and_time(
    rec: Recording, tmp_path: Path
) -> None:
    path = write_recording(rec, tmp_path / "r.mseed")
    back = read_recording(path)
    assert list(back.channels) == ["geo1", "pir1", "mag1"]
    _same_channels(rec, back, list(rec.channels))
    assert back.start_time == pytest.approx(rec.start_time, abs=1e-6)
    assert back.channels["geo1"].info["seed_ids"] == ["FDSN:XX_UGS_00_D_P_Z"]
    assert back.channels["pir1"].info["seed_ids"] == ["FDSN:XX_UGS_00_B_Y_I"]
    assert sorted(back.channels["mag1"].info["seed_ids"]) == [
        "FDSN:XX_UGS_00_B_F_E",
        "FDSN:XX_UGS_00_B_F_N",
        "FDSN:XX_UGS_00_B_F_Z",
    ]


def test_mseed_three_component_geophone_and_other_rates(tmp_path: Path) -> None:
    rec = generate("patrol", 20.0, seed=2, seismic_rate=1000.0, seismic_components=3)
    back = read_recording(write_recording(rec, tmp_path / "r.mseed"))
    geo = back.channels["geo1"]
    assert geo.components == ("Z", "N", "E") and geo.rate == 1000.0
    assert [s[-1] for s in geo.info["seed_ids"]] == ["Z", "N", "E"]
    assert geo.info["seed_ids"][0].endswith("_G_P_Z")  # >= 1000 Hz short-period band
    _same_channels(rec, back, ["geo1"])


def test_mseed_sensor_filter_and_missing_kind(rec: Recording, tmp_path: Path) -> None:
    path = write_recording(rec, tmp_path / "r.mseed")
    only = read_recording(path, sensor="magnetometer")
    assert list(only.channels) == ["mag1"]
    single = Recording({"geo1": rec.channels["geo1"]}, start_time=rec.start_time)
    geo_only = write_recording(single, tmp_path / "g.mseed")
    with pytest.raises(RecordingError, match=r"g\.mseed: no pir channel"):
        read_recording(geo_only, sensor="pir")


def test_foreign_mseed_without_our_header_is_read_by_channel_code(tmp_path: Path) -> None:
    from pymseed import DataEncoding, MS3TraceList

    traces = MS3TraceList()
    data = (np.sin(np.arange(2000) / 10) * 1000).astype(np.int32)
    traces.add_data("FDSN:IU_ANMO_00_H_H_Z", data, "i", 100.0, starttime_str="2024-01-01T00:00:00Z")
    path = tmp_path / "foreign.mseed"
    traces.to_file(str(path), overwrite=True, encoding=DataEncoding.STEIM2, format_version=2)
    back = read_recording(path, scale=2e-9)
    geo = back.channels["geo1"]
    assert geo.kind == "seismic" and geo.rate == 100.0 and geo.scale == 2e-9
    assert np.array_equal(np.rint(geo.data[:, 0] / 2e-9).astype(np.int32), data)
    assert back.start_time == pytest.approx(1704067200.0)


def test_wav_round_trip_and_interop_with_stdlib_wave(rec: Recording, tmp_path: Path) -> None:
    path = write_recording(rec, tmp_path / "g.wav")
    with wave.open(str(path)) as w:  # any audio tool can open it
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 3, 500)
        assert w.getnframes() == len(rec.channels["geo1"])
    back = read_recording(path)
    assert back.start_time == rec.start_time
    _same_channels(rec, back, ["geo1"])
    pir = write_recording(rec, tmp_path / "p.wav", channel="pir1")
    back = read_recording(pir)
    _same_channels(rec, back, ["pir1"])
    with pytest.raises(RecordingError, match=r"p\.wav: no seismic channel in the file"):
        read_recording(pir, sensor="seismic")  # never relabel PIR volts as ground velocity


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_reads_pcm_written_by_stdlib_wave(tmp_path: Path, width: int) -> None:
    rng = np.random.default_rng(width)
    top = 2 ** (8 * width - 1) - 1
    counts = rng.integers(-top, top, size=(300, 2)).astype(np.int64)
    if width == 1:
        raw = (counts // 256 + 128).astype(np.uint8).tobytes()
        expect = counts // 256
    elif width == 3:
        raw = counts.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        expect = counts
    else:
        raw = counts.astype(f"<i{width}").tobytes()
        expect = counts
    path = tmp_path / "x.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(width)
        w.setframerate(250)
        w.writeframes(raw)
    back = read_recording(path, scale=1.0)
    ch = back.channels["geo1"]
    assert ch.rate == 250.0 and ch.data.shape == (300, 2)
    assert np.array_equal(ch.data.astype(np.int64), expect)
    assert read_recording(path, rate=500.0).channels["geo1"].rate == 500.0


@pytest.mark.parametrize("placeholder", [0x7FFFFFFF, 0xFFFFFFFF])
def test_a_wav_its_recorder_never_closed_is_read_to_its_end(
    tmp_path: Path, placeholder: int
) -> None:
    # A node's logger writes the data size when it closes the file; cut off before (power
    # lost), the header keeps its placeholder and the data ends mid-frame.
    counts = np.random.default_rng(8).integers(-3000, 3000, size=(1528 * 3, 2)).astype("<i2")
    path = tmp_path / "Node81-Ch2.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(1528)
        w.writeframes(counts.tobytes())
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data")
    raw[at + 4 : at + 8] = struct.pack("<I", placeholder)
    raw[4:8] = struct.pack("<I", placeholder)
    path.write_bytes(bytes(raw) + b"\x07")  # part of a frame
    back = read_recording(path, scale=1.0)
    ch = back.channels["geo1"]
    assert np.array_equal(ch.data.astype(np.int64), counts)
    assert (
        "placeholder" in back.meta["read_note"]
        and "read the 3.0 s it holds" in back.meta["read_note"]
    )
    # A size that is not a placeholder and more than the file holds is a cut-off copy.
    raw[at + 4 : at + 8] = struct.pack("<I", counts.nbytes + 400)
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordingError, match="truncated WAV: the data chunk should hold"):
        read_recording(path)


def test_reads_float_wav(tmp_path: Path) -> None:
    values = np.linspace(-1e-5, 1e-5, 400).astype("<f4")
    fmt = struct.pack("<HHIIHH", 3, 1, 400, 1600, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"data" + struct.pack("<I", values.nbytes) + values.tobytes()
    path = tmp_path / "f.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    ch = read_recording(path).channels["geo1"]
    assert np.allclose(ch.data[:, 0], values)


def test_csv_round_trip_and_layouts(rec: Recording, tmp_path: Path) -> None:
    path = write_recording(rec, tmp_path / "m.csv", channel="mag1")
    back = read_recording(path)
    mag, orig = back.channels["mag1"], rec.channels["mag1"]
    assert mag.kind == "magnetometer" and mag.rate == 50.0 and back.start_time == rec.start_time
    assert mag.components == ("N", "E", "Z")
    assert np.allclose(mag.data, orig.data, rtol=1e-11)
    assert mag.valid is not None and orig.valid is not None
    assert np.array_equal(mag.valid, orig.valid)  # dropouts come back as invalid


def test_csv_value_column_needs_rate(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("\n".join(str(v) for v in np.arange(100) * 1e-7) + "\n")
    with pytest.raises(RecordingError, match=r"v\.csv: a CSV of bare values needs .*--rate"):
        read_recording(path)
    ch = read_recording(path, rate=250.0, sensor="pir").channels["pir1"]
    assert ch.kind == "pir" and ch.rate == 250.0 and ch.data.shape == (100, 1)


@pytest.mark.parametrize(
    ("said", "hz"),
    [
        ("Device: GEOSCOPE node 7\nSample rate: 500 Hz\nGain: 85\nvalue\n", 500.0),
        ("# fs = 4310.3\n", 4310.3),
        ("# sampling_rate: 10.65 sps\n# units: counts\nvalue\n", 10.65),
        ("Sampling interval (ms): 2\nChannel: Z\n", 500.0),
        ("Sample rate [kHz] = 4.31\nGain: 255\ncounts\n", 4310.0),
        ("Sample rate: 200 Hz\n", 200.0),  # just above the values, no header
    ],
)
def test_bare_values_at_the_rate_their_logger_states(tmp_path: Path, said: str, hz: float) -> None:
    counts = 2048 + np.random.default_rng(3).integers(-5, 6, 3000)
    path = tmp_path / "clip.csv"
    path.write_text(said + "\n".join(map(str, counts)) + "\n")
    rec = read_recording(path)
    ch = rec.channels["geo1"]
    assert ch.rate == pytest.approx(hz) and np.array_equal(ch.data[:, 0], counts)
    assert rec.meta["rate_from"] == "stated"
    assert rec.meta["rate_note"].startswith(f"read at {hz:g} Hz, as its line ")
    assert read_recording(path, rate=250.0).channels["geo1"].rate == 250.0  # --rate rules


def test_a_stated_rate_is_not_taken_from_lines_that_do_not_state_one(tmp_path: Path) -> None:
    counts = "\n".join(map(str, range(300))) + "\n"
    for said in (
        "Baud rate: 115200\nGain: 85\nvalue\n",
        "# rate: 500\n# fs: 250\n",  # two rates: none
        "Sample rate: 1e9\n",  # not a sensor's
    ):
        path = tmp_path / "clip.csv"
        path.write_text(said + counts)
        with pytest.raises(RecordingError, match="a CSV of bare values needs its sample rate"):
            read_recording(path)
    # A time column decides, whatever a comment says.
    path.write_text("# fs = 100\ntime,v\n" + "".join(f"{i / 50},{i}\n" for i in range(300)))
    assert read_recording(path).channels["geo1"].rate == 50.0


def test_csv_time_and_value_with_header_gap_and_iso_times(tmp_path: Path) -> None:
    path = tmp_path / "tv.csv"
    rows = ["timestamp;velocity"]
    times = [0, 1, 2, 3, 6, 7]  # samples 4 and 5 are missing
    rows += [f"2026-11-27T18:00:00.{t * 4:03d}Z;{t}e-7" for t in times]
    path.write_text("\n".join(rows) + "\n")
    rec = read_recording(path)
    ch = rec.channels["geo1"]
    assert ch.rate == pytest.approx(250.0)
    assert rec.start_time == pytest.approx(1795802400.0)
    assert ch.data.shape == (8, 1)
    assert ch.valid is not None
    assert list(ch.valid) == [True, True, True, True, False, False, True, True]
    headerless = tmp_path / "tv2.csv"
    headerless.write_text("0.000 1\n0.002 2\n0.004 3\n")
    assert read_recording(headerless).channels["geo1"].rate == pytest.approx(500.0)


def test_csv_time_in_a_loggers_units(tmp_path: Path) -> None:
    # Loggers write milliseconds: named in the header, or epoch milliseconds with the step
    # jittering around ~94 ms as a 10.6-Hz magnetometer's does.
    named = {"time_ms": 1e-3, "millis": 1e-3, "t [us]": 1e-6, "timestamp_ns": 1e-9}
    for header, unit in named.items():
        path = tmp_path / "named.csv"
        ticks = np.arange(200) * (0.01 / unit)  # 100 Hz in the header's unit
        path.write_text(f"{header},v\n" + "".join(f"{t:.0f},{i}\n" for i, t in enumerate(ticks)))
        ch = read_recording(path, sensor="pir").channels["pir1"]
        assert ch.rate == pytest.approx(100.0), header
    steps = np.random.default_rng(3).integers(88, 101, 599)
    epoch_ms = 1618470000000 + np.concatenate(([0], np.cumsum(steps)))
    for header in ("timestamp,x\n", ""):
        path = tmp_path / "epoch.csv"
        path.write_text(header + "".join(f"{t},{1000 + i % 7}\n" for i, t in enumerate(epoch_ms)))
        rec = read_recording(path, sensor="magnetometer")
        assert rec.channels["mag1"].rate == pytest.approx(1000 * 599 / steps.sum())
        assert rec.start_time == pytest.approx(1618470000.0)


def test_a_label_column_is_not_taken_for_a_fourth_axis(tmp_path: Path) -> None:
    path = tmp_path / "labelled.csv"
    rows = "".join(f"{i * 0.1:.1f},1000,2000,3000,{int(i > 50)}\n" for i in range(100))
    path.write_text("time,x,y,z,label\n" + rows)
    rec = read_recording(path, sensor="magnetometer")  # a data set's truth: left out, said so
    assert rec.channels["mag1"].data.shape == (100, 3)
    assert "'label' is a label, not samples" in rec.meta["read_note"]
    unnamed = tmp_path / "unnamed.csv"  # without a header: a last column of 0 and 1
    unnamed.write_text(rows)
    rec = read_recording(unnamed, sensor="magnetometer")
    assert rec.channels["mag1"].data.shape == (100, 3)
    assert "column 5 (only 0 and 1) is a label" in rec.meta["read_note"]
    counted = tmp_path / "counted.csv"  # a fourth axis that is no label is still refused
    counted.write_text("".join(f"{i * 0.1:.1f},1000,2000,3000,{i % 7}\n" for i in range(100)))
    with pytest.raises(RecordingError, match=r"4 value columns for mag1.*at most 3"):
        read_recording(counted, sensor="magnetometer")
    clocked = tmp_path / "clocked.csv"  # a logger's clock written twice: not an axis either
    clocked.write_text(
        "time,time_ms,x\n" + "".join(f"{i / 10},{i * 100},{i % 3}\n" for i in range(99))
    )
    rec = read_recording(clocked, sensor="magnetometer")
    assert rec.channels["mag1"].data[:, 0].tolist() == [i % 3 for i in range(99)]
    assert "column 'time_ms' is another clock, not samples: left out" in rec.meta["read_note"]
    pir = tmp_path / "pir.csv"  # level and the device's motion flag: both the PIR's own
    pir.write_text("time,level,motion\n" + "".join(f"{i / 100},{i % 9},0\n" for i in range(300)))
    assert read_recording(pir, sensor="pir").channels["pir1"].components == ("I", "M")


def test_rows_stamped_as_they_were_logged_are_evenly_spaced_samples(tmp_path: Path) -> None:
    # A PC stamps a 100-Hz PIR's rows in whole milliseconds as the serial line delivers them:
    # stamps repeat and jitter by tens of ms, and a label column says who was there.
    rng = np.random.default_rng(4)
    n = 3000
    stamps = 1714043970461 + np.round(10.0 * np.arange(n) + rng.uniform(0, 25, n))
    stamps = np.maximum.accumulate(stamps)  # arrival order: never back, often repeated
    assert (np.diff(stamps) == 0).any()
    body = "".join(f"{int(t)},{1800 + i % 7},{int(i > 1500)}\n" for i, t in enumerate(stamps))
    path = tmp_path / "exported.csv"
    path.write_text("TIME,VALUE,LABEL\n" + body)
    rec = read_recording(path, sensor="pir")
    ch = rec.channels["pir1"]
    assert ch.rate == pytest.approx(100.0, rel=1e-3)
    assert ch.data.shape == (n, 1) and ch.valid is None
    assert rec.start_time == pytest.approx(stamps[0] / 1000.0)
    assert "stamps when rows were logged" in rec.meta["rate_note"]
    # A pause, then the logger's buffer replayed in a burst: no steady rate, but the step
    # it keeps most of the time (10 ms) is its interval.
    burst = 1714043970461.0 + 10.0 * np.arange(n)
    burst[1000:1400] = burst[1000] + np.arange(400) * 2.5
    burst[1400:] += 30_000.0 - 10.0 * 400 + 2.5 * 400
    path.write_text("TIME,VALUE,LABEL\n" + "".join(f"{int(t)},1800,0\n" for t in burst))
    rec = read_recording(path, sensor="pir")
    assert rec.channels["pir1"].rate == 100.0 and len(rec.channels["pir1"]) == n
    assert "at its usual step, 10 ms (100 Hz)" in rec.meta["rate_note"]
    # Stamps that keep no interval at all: the rate must be given.
    stray = np.cumsum(rng.uniform(2.0, 40.0, n)) + 1714043970461.0
    path.write_text("TIME,VALUE\n" + "".join(f"{t:.0f},1800\n" for t in stray))
    with pytest.raises(RecordingError, match=r"not a sampling clock.*give --rate HZ"):
        read_recording(path, sensor="pir")
    rec = read_recording(path, sensor="pir", rate=100.0)
    assert rec.channels["pir1"].rate == 100.0 and len(rec.channels["pir1"]) == n
    assert "at the --rate given" in rec.meta["rate_note"]


def test_a_clock_that_stalls_gives_no_rate(tmp_path: Path) -> None:
    # A roadside logger's window whose epoch-ms clock stuck: 207 rows of a ~10.6-Hz
    # magnetometer stamped within 0.1 s, jittering back and forth by a few ms. The rows keep
    # within the jitter a logger is allowed, but read by them the sensor would run at 2 kHz.
    rng = np.random.default_rng(6)
    n = 207
    stamps = 1610678855000 + np.sort(rng.integers(0, 100, n)) + rng.integers(-4, 5, n)
    body = "".join(f"{i},{t},{800 + i % 50},0\n" for i, t in enumerate(stamps))
    path = tmp_path / "window.txt"
    path.write_text(body)
    with pytest.raises(RecordingError, match=r"207 rows within 0\.1\d* s.*give --rate HZ"):
        read_recording(path, sensor="magnetometer")
    rec = read_recording(path, sensor="magnetometer", rate=10.6)
    assert rec.channels["mag1"].rate == 10.6 and len(rec.channels["mag1"]) == n


def test_a_clock_since_boot_in_milliseconds_is_read_so_when_the_rate_says_it(
    tmp_path: Path,
) -> None:
    # A parking magnetometer's window: row counter, milliseconds since the logger booted
    # (no epoch, no header), one axis, 0/1 label. Read as seconds it is a 0.011-Hz sensor;
    # the rate given says the column is in milliseconds, and it is never taken for data.
    rng = np.random.default_rng(7)
    n = 600
    stamps = 36_447_261 + np.round(np.arange(n) * 90.25 + rng.uniform(-3, 3, n))
    body = "".join(f"{i},{t:.0f},{360 + i % 9},{int(i > 300)}\n" for i, t in enumerate(stamps))
    path = tmp_path / "parking.txt"
    path.write_text(body)
    as_seconds = read_recording(path, sensor="magnetometer").channels["mag1"]
    assert as_seconds.rate == pytest.approx(1 / 90.25, rel=1e-3)
    rec = read_recording(path, sensor="magnetometer", rate=11.08)
    ch = rec.channels["mag1"]
    assert ch.rate == pytest.approx(11.08, rel=1e-3) and ch.data.shape == (n, 1)
    assert rec.meta["rate_note"].startswith("the time column read in milliseconds")
    assert rec.start_time == 0.0  # a clock since boot says nothing of the date
    with pytest.raises(RecordingError, match="the time column gives"):
        read_recording(path, sensor="magnetometer", rate=50.0)  # a rate it cannot be


def test_a_loggers_counter_clock_value_and_label_without_a_header(tmp_path: Path) -> None:
    # As a roadside magnetometer's data set publishes each window: sequence number, epoch
    # milliseconds (~94 ms steps, a few ms of jitter), one axis in raw counts, 0/1 label.
    rng = np.random.default_rng(9)
    stamps = 1610678420000 + np.cumsum(rng.integers(88, 100, 400))
    field = 160 + rng.integers(-40, 40, 400)
    rows = "".join(
        f"{i},{t},{v},{int(180 <= i < 200)}\n"
        for i, (t, v) in enumerate(zip(stamps, field, strict=True))
    )
    path = tmp_path / "sample1.txt"
    path.write_text(rows)
    for rate in (None, 10.6):
        rec = read_recording(path, sensor="magnetometer", rate=rate)
        ch = rec.channels["mag1"]
        assert ch.data.shape == (400, 1)
        assert list(ch.data[:3, 0]) == [float(v) for v in field[:3]]
        assert ch.rate == pytest.approx(1000.0 / 94.0, rel=0.02)
        assert rec.start_time == pytest.approx(stamps[0] / 1000.0)
        assert "column 4 (only 0 and 1) is a label" in rec.meta["read_note"]
    # A PIR's second column of 0 and 1 is its own motion flag, not a label.
    pir = tmp_path / "pir.txt"
    pir.write_text("".join(f"{i * 0.01:.2f},{1800 + i % 5},{int(i > 100)}\n" for i in range(300)))
    assert read_recording(pir, sensor="pir").channels["pir1"].data.shape == (300, 2)


def test_rows_of_many_bare_values_are_packets_read_one_after_another(tmp_path: Path) -> None:
    # A PIR logger that writes each UDP message's 60 samples as one line.
    samples = 680 + np.arange(600) % 17
    path = tmp_path / "clip.csv"
    path.write_text("".join(",".join(map(str, row)) + "\n" for row in samples.reshape(10, 60)))
    with pytest.raises(RecordingError, match=r"each row holds 60 values.*give --rate HZ"):
        read_recording(path, sensor="pir")
    rec = read_recording(path, sensor="pir", rate=100.0)
    assert list(rec.channels["pir1"].data[:, 0]) == [float(v) for v in samples]
    assert "each row holds 60 samples" in rec.meta["rate_note"]


def test_row_numbers_and_decimal_commas_as_spreadsheets_write_them(tmp_path: Path) -> None:
    values = [2034.5, 2082.25, 1990.0] * 100
    pandas_index = tmp_path / "index.csv"  # DataFrame.to_csv(): an unnamed index column
    pandas_index.write_text(",geo\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    counter = tmp_path / "counter.csv"  # a logger's sample counter, no header
    counter.write_text("".join(f"{i + 7} {v}\n" for i, v in enumerate(values)))
    for path in (pandas_index, counter):
        with pytest.raises(RecordingError, match=r"needs its sample rate|counts samples"):
            read_recording(path)
        ch = read_recording(path, rate=500.0).channels["geo1"]
        assert ch.data.shape == (300, 1) and list(ch.data[:3, 0]) == values[:3]
    comma = tmp_path / "comma.csv"
    rows = "".join(f"{i / 500:.3f};{v}\n".replace(".", ",") for i, v in enumerate(values))
    comma.write_text("time;geo\n" + rows)
    ch = read_recording(comma).channels["geo1"]
    assert ch.rate == pytest.approx(500.0) and list(ch.data[:3, 0]) == values[:3]
    preamble = tmp_path / "preamble.csv"  # a logger's lines about the run, then the table
    lines = "Device: GEOSCOPE node 7\nGain: 85\nStart: 2026-03-28 16:52\ntime,geo\n"
    preamble.write_text(lines + "".join(f"{i / 500},{v}\n" for i, v in enumerate(values)))
    ch = read_recording(preamble).channels["geo1"]
    assert ch.rate == pytest.approx(500.0) and list(ch.data[:3, 0]) == values[:3]
    trailing = tmp_path / "trailing.csv"  # every line ends on the delimiter
    trailing.write_text("time,geo,\n" + "".join(f"{i / 500},{v},\n" for i, v in enumerate(values)))
    ch = read_recording(trailing).channels["geo1"]
    assert ch.data.shape == (300, 1) and list(ch.data[:3, 0]) == values[:3]
    unicode = tmp_path / "unicode.txt"  # a spreadsheet's "Unicode text": UTF-16, tabs
    table = "time\tgeo [µm/s]\n" + "".join(f"{i / 500}\t{v}\n" for i, v in enumerate(values))
    for encoding in ("utf-16", "utf-16-be"):
        bom = "\ufeff" if encoding == "utf-16-be" else ""
        unicode.write_bytes((bom + table).encode(encoding))
        ch = read_recording(unicode).channels["geo1"]
        assert ch.rate == pytest.approx(500.0) and list(ch.data[:3, 0]) == values[:3]


def test_csv_columns_headed_for_a_sensor_read_as_that_sensor(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)

    def table(header: str, rate: float, width: int) -> Path:
        rows = "".join(
            f"{i / rate:.4f}," + ",".join(f"{v:.3f}" for v in rng.normal(size=width)) + "\n"
            for i in range(400)
        )
        path = tmp_path / f"{header.replace(',', '-')}.csv"
        path.write_text(header + "\n" + rows)
        return path

    mag = read_recording(table("time,mag_x,mag_y,mag_z", 10.65, 3))
    assert mag.channels["mag1"].kind == "magnetometer" and mag.channels["mag1"].data.shape[1] == 3
    assert "headed for a magnetometer sensor" in mag.meta["read_note"]
    assert not mag.meta["kind_assumed"]
    pir = read_recording(table("t,PIR,label", 100.0, 2))
    assert pir.channels["pir1"].kind == "pir" and "'label' is a label" in pir.meta["read_note"]
    assert (
        read_recording(table("time,Seismic (counts)", 500.0, 1)).channels["geo1"].kind == "seismic"
    )
    # Columns that name two kinds are a channel each; columns that name no sensor leave
    # the choice to --sensor.
    mixed = read_recording(table("time,mag_x,pir", 100.0, 2))
    assert {n: ch.kind for n, ch in mixed.channels.items()} == {
        "pir1": "pir",
        "mag1": "magnetometer",
    }
    assert not mixed.meta["kind_assumed"]
    bare = read_recording(table("time,value", 100.0, 1))
    assert bare.meta["kind_assumed"]
    assert "no sensor kind in the file: read as seismic (--sensor" in bare.meta["read_note"]
    # --sensor wins over a header.
    told = read_recording(table("time,pir_level", 100.0, 1), sensor="magnetometer")
    assert list(told.channels) == ["mag1"] and "read_note" not in told.meta


def test_bare_npz_and_npy(tmp_path: Path) -> None:
    data = np.arange(600, dtype=np.float64).reshape(200, 3)
    np.savez(tmp_path / "b.npz", data=data, rate=np.array(100.0))
    ch = read_recording(tmp_path / "b.npz").channels["geo1"]
    assert ch.rate == 100.0 and ch.data.shape == (200, 3)
    np.save(tmp_path / "a.npy", data[:, 0])
    with pytest.raises(RecordingError, match="needs its sample rate"):
        read_recording(tmp_path / "a.npy")
    assert read_recording(tmp_path / "a.npy", rate=50.0).channels["geo1"].rate == 50.0
    # A logger that stopped before its first sample: said to be empty, not to lack an array.
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    with pytest.raises(RecordingError, match=r"holds no samples \(arrays: data 0 x 2\)"):
        read_recording(tmp_path / "empty.npy", rate=50.0)


def test_content_decides_not_the_extension(rec: Recording, tmp_path: Path) -> None:
    path = write_recording(rec, tmp_path / "really-mseed.mseed")
    disguised = tmp_path / "looks-like.csv"
    disguised.write_bytes(path.read_bytes())
    assert sniff(disguised) == "mseed"
    assert list(read_recording(disguised).channels) == ["geo1", "pir1", "mag1"]


def test_several_files_and_truth_sidecar(rec: Recording, tmp_path: Path) -> None:
    geo = write_recording(rec, tmp_path / "g.wav")
    pir = write_recording(rec, tmp_path / "p.csv", channel="pir1")
    rec.truth = [TruthEvent("footstep", "walker", 1.0, 5.0, 3.0, 4.0, {"cadence_hz": 1.8})]
    rec.write_truth(tmp_path / "g.wav.truth.json")
    both = read_recording([geo, pir])
    assert set(both.channels) == {"geo1", "pir1"}
    assert both.truth[0].extra["cadence_hz"] == 1.8


def test_clips_apart_in_time_are_sessions_and_files_recorded_together_one(
    rec: Recording, tmp_path: Path
) -> None:
    from dataclasses import replace

    from drivers.recordings import read_sessions

    # A geophone and a PIR recorded together, then two triggered clips of the geophone a
    # minute and two days later (a day of a 500-Hz channel padded to one span: 43 M samples).
    geo = write_recording(rec, tmp_path / "g.wav")
    pir = write_recording(rec, tmp_path / "p.csv", channel="pir1")
    rec.truth = [TruthEvent("footstep", "walker", 10.0, 25.0, 17.0, 6.0)]
    rec.write_truth(tmp_path / "g.wav.truth.json")
    later = [
        write_recording(replace(rec, start_time=rec.start_time + lag), tmp_path / f"c{i}.wav")
        for i, lag in enumerate((2 * 86400.0, 150.0))
    ]
    sessions = read_sessions([*later, pir, geo])
    assert [s.files for s in sessions] == [[pir, geo], [later[1]], [later[0]]]
    assert set(sessions[0].recording.channels) == {"geo1", "pir1"}
    # The truth of the files recorded together is that of the one that has a sidecar.
    assert sessions[0].recording.truth == rec.truth and sessions[1].recording.truth == []
    assert [s.recording.start_time for s in sessions] == [
        rec.start_time,
        rec.start_time + 150.0,
        rec.start_time + 2 * 86400.0,
    ]
    # Read as one recording, files days apart are refused, not padded into gigabytes.
    with pytest.raises(RecordingError, match=r"c0.wav starts 48.0 h after .*g.wav"):
        read_recording([geo, later[0]])


BAD_INPUTS = {
    "empty": (b"", "empty file"),
    "garbage": (bytes(range(256)) * 8, "unknown format"),
    "truncated-wav": (None, "truncated WAV"),
    "truncated-mseed": (None, "Incomplete miniSEED record"),
    "truncated-npz": (None, "damaged or truncated numpy file"),
    "damaged-npy-header": (None, "cannot read numpy arrays"),
    "nan-csv": (b"t,v\n0,1\n0.01,nan\n0.02,3\n", "line 3, column 2: 'nan' is not a finite"),
    "inf-npz": (None, "NaN/infinite sample"),
    "text-cell": (b"0.0,1\n0.01,2\n0.02,abc\n", "line 3, column 2: 'abc' is not a number"),
    "stray-carriage-return": (
        b"0.0,1\n0.01,2\n0.02,3\r5\n0.03,4\n",
        "line 3, column 2: '3\\r5' is not a number",
    ),
    "ragged": (b"0.0,1\n0.01,2,5\n", "line 2: 3 columns, expected 2"),
    # A row cut short first: the width most rows have is the one expected.
    "ragged-first": (
        b"time,value\n0.0\n" + b"".join(b"%.2f,%d\n" % (i / 100, i) for i in range(1, 9)),
        "line 2: 1 column, expected 2 as on line 3",
    ),
    "nan-time": (b"t,v\n0,1\nnan,2\n0.02,3\n", "line 3: time 'nan' is not a finite time"),
    "inf-time": (b"t,v\n0,1\n0.01,2\ninf,3\n", "line 4: time 'inf' is not a finite time"),
    "only-clocks": (b"time,time_ms\n0,0\n0.01,10\n0.02,20\n", "column 'time_ms' is another clock"),
    "irregular": (  # a clock that slows down all along: no interval kept
        "".join(f"{t:.4f},1\n" for t in np.cumsum(np.linspace(0.005, 0.1, 30))).encode(),
        "the time column is not a sampling clock",
    ),
    "backwards": (b"0,1\n0.5,2\n0.52,3\n-5,4\n", "not a sampling clock"),
    "samples-not-time": (
        "".join(f"{np.sin(i):.3f},{np.cos(i):.3f}\n" for i in range(50)).encode(),
        "a CSV of bare values needs its sample rate: give --rate HZ (its first column goes "
        "back in 51% of its steps: samples, not a time)",
    ),
    "stuck-clock": (
        b"5,1\n5,2\n5,3\n5,4\n",
        "not a sampling clock (3 of 3 steps repeat, go back or are uneven, it never advances)",
    ),
    "header-only": (b"time,value\n", "a header row but no data rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_recording_error_naming_the_file(
    case: str, rec: Recording, tmp_path: Path
) -> None:
    content, message = BAD_INPUTS[case]
    path = tmp_path / f"{case}.bin"
    if case == "truncated-wav":
        full = write_recording(rec, tmp_path / "full.wav").read_bytes()
        content = full[: len(full) // 2]
    elif case == "truncated-mseed":
        full = write_recording(rec, tmp_path / "full.mseed").read_bytes()
        content = full[:-100]
    elif case == "truncated-npz":
        full = write_recording(rec, tmp_path / "full.npz").read_bytes()
        content = full[: len(full) // 3]
    elif case == "damaged-npy-header":
        # The array's header is a Python literal to numpy; cut it open mid-tuple.
        buf = io.BytesIO()
        np.save(buf, np.arange(4.0))
        full = buf.getvalue()
        size = int.from_bytes(full[8:10], "little")
        broken = b"{'descr': '<f8', 'fortran_order': False, 'shape': (4, "
        content = full[:10] + broken.ljust(size - 1) + b"\n" + full[10 + size :]
    elif case == "inf-npz":
        np.savez(tmp_path / "inf.npz", data=np.array([0.0, 1.0, np.inf, 2.0]), rate=10.0)
        content = (tmp_path / "inf.npz").read_bytes()
    assert content is not None
    path.write_bytes(content)
    with pytest.raises(RecordingError) as err:
        read_recording(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_a_sensors_files_that_follow_on_are_one_channel(tmp_path: Path) -> None:
    from dataclasses import replace

    # A logger's two consecutive files of one geophone (the second 0.5 s after the first
    # ends), and a PIR recorded alongside both.
    full = generate("patrol", 60.0, seed=12)
    geo = full.channels["geo1"]
    half = len(geo) // 2
    first = replace(full, channels={"geo1": replace(geo, data=geo.data[:half], valid=None)})
    second = replace(
        full,
        start_time=full.start_time + half / geo.rate + 0.5,
        channels={"geo1": replace(geo, data=geo.data[half:], valid=None)},
    )
    paths = [
        write_recording(first, tmp_path / "a.wav"),
        write_recording(second, tmp_path / "b.wav"),
        write_recording(full, tmp_path / "pir.wav", channel="pir1"),
    ]
    rec = read_recording(paths)
    assert sorted(rec.channels) == ["geo1", "pir1"]
    joined = rec.channels["geo1"]
    assert len(joined) == len(geo) + round(0.5 * geo.rate)
    assert joined.valid is not None and int((~joined.valid).sum()) == round(0.5 * geo.rate)
    np.testing.assert_allclose(joined.data[joined.valid], geo.data, atol=geo.scale)  # counts
    # A file of the sensor overlapping another is another channel, side by side.
    again = write_recording(first, tmp_path / "again.wav")
    assert sorted(read_recording([*paths, again]).channels) == ["geo1", "geo2", "pir1"]


def test_sac_cuts_of_one_sensor_apart_in_time_are_sessions(tmp_path: Path) -> None:
    from drivers.recordings import read_sessions

    # A node's triggered cuts: two that follow on (one series) and one an hour later.
    noise = np.random.default_rng(3).standard_normal(1500).astype(np.float32)
    starts = [SAC_START, datetime.fromtimestamp(SAC_START.timestamp() + 6.0, UTC)]
    starts.append(datetime.fromtimestamp(SAC_START.timestamp() + 3600.0, UTC))
    paths = []
    for i, start in enumerate(starts):
        paths.append(tmp_path / f"cut{i}.EHZ.sac")
        paths[-1].write_bytes(sac_bytes(noise, start=start))
    with pytest.raises(RecordingError, match="far apart in time"):
        read_recording(paths)
    sessions = read_sessions(paths)
    assert [[p.name for p in s.files] for s in sessions] == [
        ["cut0.EHZ.sac", "cut1.EHZ.sac"],
        ["cut2.EHZ.sac"],
    ]
    assert sessions[0].recording.duration == pytest.approx(12.0)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        read_recording(tmp_path / "nope.mseed")
    with pytest.raises(RecordingError, match="is a directory"):
        read_recording(tmp_path)


def test_to_counts_clips_to_the_device_range_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ch = Channel("geo1", "seismic", 500.0, np.array([0.0, 1e-3, 1.0, -1.0]), 1e-9)
    counts = ch.to_counts()
    assert list(counts[:, 0]) == [0, 1_000_000, 2**23 - 1, -(2**23)]
    assert ch.clipped_fraction() == 0.5
    assert "2 of 4 samples beyond the 24-bit range" in caplog.text


def test_reads_obspy_written_three_component_and_float_mseed(tmp_path: Path) -> None:
    obspy = pytest.importorskip("obspy")
    rng = np.random.default_rng(3)
    traces = []
    for comp in "ENZ":  # deliberately not in Z, N, E order
        data = rng.integers(-50_000, 50_000, 3000).astype(np.int32)
        header = {
            "network": "XX",
            "station": "SITE3",
            "location": "",
            "channel": f"HH{comp}",
            "sampling_rate": 200.0,
            "starttime": obspy.UTCDateTime(2026, 11, 27, 18),
        }
        traces.append(obspy.Trace(data=data, header=header))
    stream = obspy.Stream(traces)
    path = tmp_path / "obspy.mseed"
    stream.write(str(path), format="MSEED", encoding="STEIM2", reclen=512)
    rec = read_recording(path)
    geo = rec.channels["geo1"]
    assert geo.components == ("Z", "N", "E") and geo.rate == 200.0
    for col, comp in enumerate("ZNE"):
        expected = stream.select(component=comp)[0].data
        assert np.array_equal(np.rint(geo.data[:, col] / 1e-9).astype(np.int32), expected)
    assert rec.start_time == pytest.approx(1795802400.0)
    floats = obspy.Stream(
        [
            obspy.Trace(
                data=np.linspace(-1e-6, 1e-6, 500),
                header={"station": "F", "channel": "HHZ", "sampling_rate": 100.0},
            )
        ]
    )
    fpath = tmp_path / "float.mseed"
    floats.write(str(fpath), format="MSEED", encoding="FLOAT64")
    ch = read_recording(fpath).channels["geo1"]
    assert np.allclose(ch.data[:, 0], floats[0].data)  # floats are physical units already


def test_a_units_table_of_every_sensor_is_a_channel_per_sensor(tmp_path: Path) -> None:
    # A unit's logger writing all its sensors into one table, a label column beside them.
    rng = np.random.default_rng(9)
    n = 2000
    geo = rng.normal(0.0, 1e-6, n)
    pir = 1.6 + rng.normal(0.0, 0.01, n)
    mag = rng.normal(0.0, 5.0, (n, 3)) + np.array([20000.0, -3000.0, 40000.0])
    path = tmp_path / "unit.csv"
    rows = [
        f"{i / 200:.3f},{geo[i]:.6e},{pir[i]:.5f},{mag[i, 0]:.2f},{mag[i, 1]:.2f},{mag[i, 2]:.2f},0"
        for i in range(n)
    ]
    path.write_text("time,geophone,pir,mag_x,mag_y,mag_z,label\n" + "\n".join(rows) + "\n")
    rec = read_recording(path)
    assert {name: ch.kind for name, ch in rec.channels.items()} == {
        "geo1": "seismic",
        "pir1": "pir",
        "mag1": "magnetometer",
    }
    assert all(ch.rate == pytest.approx(200.0) for ch in rec.channels.values())
    np.testing.assert_allclose(rec.channels["geo1"].data[:, 0], geo, rtol=1e-6)
    np.testing.assert_allclose(rec.channels["pir1"].data[:, 0], pir, atol=1e-5)
    np.testing.assert_allclose(rec.channels["mag1"].data, mag, atol=0.01)
    assert "read as geo1 (seismic), pir1 (pir), mag1 (magnetometer)" in rec.meta["read_note"]
    assert "'label' is a label" in rec.meta["read_note"]
    # One kind asked of it: its columns alone.
    (only,) = read_recording(path, sensor="magnetometer").channels.values()
    assert only.kind == "magnetometer" and only.data.shape == (n, 3)
    path.write_text("time,geophone,pir\n" + "\n".join(r.rsplit(",", 4)[0] for r in rows) + "\n")
    with pytest.raises(
        RecordingError, match=r"no magnetometer column in the file \(has seismic, pir\)"
    ):
        read_recording(path, sensor="magnetometer")


def test_csv_from_a_legacy_spreadsheet_export(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    body = "time;velocity \xb5m/s\n" + "".join(f"{i * 0.004:.3f};{i}\n" for i in range(200))
    path.write_bytes(body.encode("cp1252"))
    ch = read_recording(path).channels["geo1"]
    assert ch.rate == 250.0 and ch.data.shape == (200, 1)


def test_csv_with_quoted_cells_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('"time_s";"Z, vertical"\n"0.00";"1.5"\n"0.01";"-2"\n"0.02";"3"\n')
    ch = read_recording(path).channel("seismic")
    assert ch.rate == 100.0
    assert ch.data[:, 0].tolist() == [1.5, -2.0, 3.0]


SAC_START = datetime(2026, 11, 27, 18, 0, 5, 250_000, tzinfo=UTC)


def sac_bytes(
    data: np.ndarray,
    *,
    rate: float = 250.0,
    order: str = "<",
    version: int = 6,
    component: str = "EHZ",
    station: str = "NODE7",
    start: datetime | None = SAC_START,
    begin: float = 0.0,
    leven: int = 1,
    npts: int | None = None,
) -> bytes:
    """An evenly sampled SAC file as seismic tools write it (version 7 with its footer)."""
    floats = np.full(70, -12345.0, dtype=f"{order}f4")
    floats[0] = 1.0 / rate  # DELTA
    floats[5] = begin  # B
    floats[6] = begin + (len(data) - 1) / rate  # E
    ints = np.full(40, -12345, dtype=f"{order}i4")
    if start is not None:  # NZYEAR, NZJDAY, NZHOUR, NZMIN, NZSEC, NZMSEC
        day = start.timetuple().tm_yday
        ints[:6] = (
            start.year,
            day,
            start.hour,
            start.minute,
            start.second,
            start.microsecond // 1000,
        )
    ints[6] = version  # NVHDR
    ints[9] = len(data) if npts is None else npts  # NPTS
    ints[15] = 1  # IFTYPE: a time series
    ints[35] = leven  # LEVEN
    chars = bytearray(b"-12345  " * 24)
    chars[0:8] = station.ljust(8).encode()  # KSTNM
    chars[160:168] = component.ljust(8).encode()  # KCMPNM
    chars[168:176] = b"XX      "  # KNETWK
    blob = floats.tobytes() + ints.tobytes() + bytes(chars)
    blob += np.asarray(data, dtype=f"{order}f4").tobytes()
    if version == 7:  # the footer: DELTA, B, E, ... as float64
        footer = np.full(22, -12345.0, dtype=f"{order}f8")
        footer[:3] = (1.0 / rate, begin, begin + (len(data) - 1) / rate)
        blob += footer.tobytes()
    return blob


@pytest.mark.parametrize(("order", "version"), [("<", 6), (">", 6), ("<", 7), (">", 7)])
def test_sac_in_either_byte_order_and_header_version(
    tmp_path: Path, order: str, version: int
) -> None:
    samples = np.random.default_rng(11).standard_normal(2500).astype(np.float32) * 1e-6
    path = tmp_path / "node7.EHZ.sac"
    path.write_bytes(sac_bytes(samples, order=order, version=version, begin=1.5))
    assert sniff(path) == "sac"
    rec = read_recording(path)
    assert list(rec.channels) == ["geo1"]
    ch = rec.channels["geo1"]
    assert (ch.kind, ch.rate, ch.components, ch.scale) == ("seismic", 250.0, ("Z",), 1e-9)
    assert ch.data.dtype == np.float64
    assert np.array_equal(ch.data[:, 0], samples.astype(np.float64))  # physical units
    assert ch.valid is None
    assert rec.start_time == pytest.approx(SAC_START.timestamp() + 1.5, abs=1e-6)
    assert (ch.info["station"], ch.info["network"], ch.info["sac_components"]) == (
        "NODE7",
        "XX",
        ["EHZ"],
    )
    assert rec.meta["format"] == "sac" and rec.meta["station"] == "NODE7"


def test_sac_rates_that_are_not_whole_and_no_start_time(tmp_path: Path) -> None:
    samples = np.linspace(-1.0, 1.0, 1000)
    odd = tmp_path / "odd.sac"
    odd.write_bytes(sac_bytes(samples, rate=333.33, start=None))
    rec = read_recording(odd)
    assert rec.channels["geo1"].rate == 333.33  # not 333.32999 from the float32 DELTA
    assert rec.start_time == 0.0
    third = tmp_path / "third.sac"  # DELTA 0.003 s in the footer's float64
    third.write_bytes(sac_bytes(samples, rate=1000.0 / 3.0, version=7))
    assert read_recording(third).channels["geo1"].rate == pytest.approx(1000.0 / 3.0, rel=1e-12)
    slow = tmp_path / "slow.sac"
    slow.write_bytes(sac_bytes(samples, rate=0.5, component="LFZ"))
    assert read_recording(slow).channels["mag1"].rate == 0.5


@pytest.mark.parametrize(
    ("component", "sensor", "kind", "components"),
    [
        ("EHZ", None, "seismic", ("Z",)),
        ("DPN", None, "seismic", ("N",)),
        ("HH1", None, "seismic", ("Z",)),  # not a name the kind knows: its default
        ("BFE", None, "magnetometer", ("E",)),
        ("BYI", None, "pir", ("I",)),
        ("", None, "seismic", ("Z",)),
        ("BDF", None, "seismic", ("Z",)),  # a pressure sensor: not ours, read as seismic
        ("EHZ", "pir", "pir", ("I",)),
    ],
)
def test_sac_kind_from_the_component_name_or_sensor(
    tmp_path: Path, component: str, sensor: str | None, kind: str, components: tuple[str, ...]
) -> None:
    path = tmp_path / "c.sac"
    path.write_bytes(sac_bytes(np.zeros(500), rate=100.0, component=component))
    (ch,) = read_recording(path, sensor=sensor).channels.values()
    assert (ch.kind, ch.components) == (kind, components)
    assert ch.name == {"seismic": "geo1", "pir": "pir1", "magnetometer": "mag1"}[kind]


def test_sac_files_of_one_sensor_join_in_time_and_components(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    part = [rng.standard_normal(2500).astype(np.float32) for _ in range(3)]  # 10 s each
    later = datetime.fromtimestamp(SAC_START.timestamp() + 10.0, UTC)
    gap = datetime.fromtimestamp(SAC_START.timestamp() + 30.0, UTC)
    files = {
        "z0.sac": sac_bytes(part[0]),
        "z1.sac": sac_bytes(part[1], start=later),  # the next file: no gap
        "z2.sac": sac_bytes(part[2], start=gap, order=">"),  # 10 s after the previous ends
        "n0.sac": sac_bytes(part[1], component="EHN"),
        "e0.sac": sac_bytes(part[2], component="EHE"),
        "other.sac": sac_bytes(part[0], station="NODE8", start=later),
    }
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    rec = read_recording([tmp_path / name for name in files])
    assert list(rec.channels) == ["geo1", "geo2"]
    geo = rec.channels["geo1"]
    assert geo.components == ("Z", "N", "E") and len(geo) == 40 * 250
    assert np.array_equal(geo.data[:2500, 0], part[0])
    assert np.array_equal(geo.data[:2500, 2], part[2])
    assert np.array_equal(geo.data[2500:5000, 0], part[1])
    assert np.array_equal(geo.data[7500:, 0], part[2])
    assert geo.valid is not None
    # N and E end after 10 s, and Z has a gap from 20 to 30 s: a sample is valid when all are.
    assert geo.valid[:2500].all() and not geo.valid[2500:].any()
    assert geo.info["sac_components"] == ["EHE", "EHN", "EHZ"] and len(geo.info["files"]) == 5
    other = rec.channels["geo2"]
    assert other.info["station"] == "NODE8"
    assert rec.start_time == pytest.approx(SAC_START.timestamp(), abs=1e-6)
    assert other.valid is not None and not other.valid[:2500].any()  # starts 10 s later
    assert np.array_equal(other.data[2500:, 0], part[0])
    (tmp_path / "fast.sac").write_bytes(sac_bytes(part[0], rate=500.0, start=gap))
    with pytest.raises(RecordingError, match="one sensor must keep its rate"):
        read_recording([tmp_path / "z0.sac", tmp_path / "fast.sac"])
    month = datetime.fromtimestamp(SAC_START.timestamp() + 30 * 86400.0, UTC)
    (tmp_path / "month.sac").write_bytes(sac_bytes(part[0], start=month))
    with pytest.raises(RecordingError, match="far apart in time"):
        read_recording([tmp_path / "z0.sac", tmp_path / "month.sac"])


def test_traces_of_different_stations_are_sessions_apart_even_at_one_time(
    tmp_path: Path, rec: Recording
) -> None:
    from dataclasses import replace

    from drivers.recordings import read_sessions, station_of

    # One event's traces at three nodes tens of metres apart (each starting a few seconds
    # after the last, as their triggers fired), NODE7's in three components.
    noise = np.random.default_rng(5).standard_normal(1500).astype(np.float32)
    paths = []
    for i, (station, component) in enumerate(
        [("NODE7", "EHZ"), ("NODE7", "EHN"), ("NODE8", "EHZ"), ("NODE9", "EHZ")]
    ):
        start = datetime.fromtimestamp(SAC_START.timestamp() + 2.0 * (i // 2), UTC)
        paths.append(tmp_path / f"{station}.{component}.sac")
        paths[-1].write_bytes(sac_bytes(noise, station=station, component=component, start=start))
    sessions = read_sessions(paths)
    assert [[p.name for p in s.files] for s in sessions] == [
        ["NODE7.EHZ.sac", "NODE7.EHN.sac"],
        ["NODE8.EHZ.sac"],
        ["NODE9.EHZ.sac"],
    ]
    assert [list(s.recording.channels) for s in sessions] == [["geo1"]] * 3
    assert sessions[0].recording.channels["geo1"].components == ("Z", "N")
    # Read as one recording they are still one unit's channels side by side.
    assert list(read_recording(paths).channels) == ["geo1", "geo2", "geo3"]
    # One station and a file that names none (a PIR's CSV): one unit, as before.
    pir = write_recording(
        replace(rec, start_time=SAC_START.timestamp()), tmp_path / "pir.csv", channel="pir1"
    )
    (together,) = read_sessions([paths[0], pir])
    assert set(together.recording.channels) == {"geo1", "pir1"}
    # miniSEED names its station in its source identifiers.
    mseed = [
        write_recording(
            replace(rec, meta={**rec.meta, "station": code}), tmp_path / f"{code}.mseed"
        )
        for code in ("N7", "N8")
    ]
    assert [station_of(read_recording(p)) for p in mseed] == [("XX", "N7"), ("XX", "N8")]
    assert [s.files for s in read_sessions(mseed)] == [[mseed[0]], [mseed[1]]]
    # A network's file of every node (records of both, one after the other): a session each.
    day = tmp_path / "network.mseed"
    day.write_bytes(mseed[0].read_bytes() + mseed[1].read_bytes())
    assert station_of(read_recording(day)) is None
    nodes = read_sessions([day])
    assert [station_of(s.recording) for s in nodes] == [("XX", "N7"), ("XX", "N8")]
    assert [s.files for s in nodes] == [[day], [day]]
    for node, alone in zip(nodes, mseed, strict=True):
        theirs = read_recording(alone).channels.values()
        for mine, its in zip(node.recording.channels.values(), theirs, strict=True):
            assert mine.kind == its.kind
            np.testing.assert_array_equal(mine.data, its.data)


def _nan_samples() -> np.ndarray:
    samples = np.zeros(1000, dtype=np.float32)
    samples.view(np.uint32)[400] = 0x7F800001  # a signalling NaN, as a flipped bit leaves
    return samples


SAC_BAD = {
    "truncated": (sac_bytes(np.zeros(1000))[:-400], "truncated SAC, file too short"),
    "uneven": (sac_bytes(np.zeros(1000), leven=0), "unevenly sampled SAC (LEVEN false)"),
    "nan": (
        sac_bytes(_nan_samples()),
        "EHZ has 1 NaN/infinite sample(s), the first at sample 400 (1.600 s)",
    ),
    "delta": (sac_bytes(np.zeros(1000), rate=-250.0), "sample interval DELTA is -0.004 s"),
    "no-samples": (sac_bytes(np.zeros(0), npts=0), "says 0 samples (NPTS)"),
    "too-long": (sac_bytes(np.zeros(1000)) + b"\0" * 64, "a damaged file, or not SAC"),
}


@pytest.mark.parametrize("case", sorted(SAC_BAD))
def test_bad_sac_is_a_recording_error_naming_the_file(case: str, tmp_path: Path) -> None:
    content, message = SAC_BAD[case]
    path = tmp_path / f"{case}.sac"
    path.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the message is the whole report
        with pytest.raises(RecordingError) as err:
            read_recording(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_sac_is_read_not_written(rec: Recording, tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="SAC is read, not written"):
        write_recording(rec, tmp_path / "out.sac")


def test_reads_obspy_written_sac(tmp_path: Path) -> None:
    obspy = pytest.importorskip("obspy")
    data = np.random.default_rng(13).standard_normal(1200).astype(np.float32)
    header = {
        "network": "XX",
        "station": "SITE3",
        "channel": "BFN",
        "sampling_rate": 100.0,
        "starttime": obspy.UTCDateTime(2026, 11, 27, 18),
    }
    path = tmp_path / "obspy.sac"
    obspy.Trace(data=data, header=header).write(str(path), format="SAC", byteorder=">")
    rec = read_recording(path)
    mag = rec.channels["mag1"]
    assert (mag.rate, mag.components) == (100.0, ("N",))
    assert np.array_equal(mag.data[:, 0], data)
    assert rec.start_time == pytest.approx(1795802400.0, abs=1e-6)


EVENT = {
    "label": "footstep",
    "source": "walker",
    "t0": 1.0,
    "t1": 4.0,
    "t_cpa": 2.5,
    "range_m": 6.0,
}
BAD_TRUTH = {
    "not-json": ("{", "not a JSON truth file"),
    "other-format": ({"format": "labels"}, "not a ugs-gateway truth file"),
    "newer": ({"format": "ugs-truth", "version": 2, "events": []}, "this version reads up to 1"),
    "events-not-a-list": ({"format": "ugs-truth", "events": {}}, "'events' must be a list"),
    "missing-field": ({"format": "ugs-truth", "events": [{"label": "footstep"}]}, "event 0"),
    "unknown-label": (
        {"format": "ugs-truth", "events": [EVENT, EVENT | {"label": "Footstep"}]},
        "truth event 1: label 'Footstep' is not one of footstep, vehicle, unknown",
    ),
    "backwards-span": (
        {"format": "ugs-truth", "events": [EVENT | {"t0": 5.0}]},
        "truth event 0: t1 (4 s) is before t0 (5 s)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TRUTH))
def test_a_truth_file_that_cannot_be_scored_against_says_why(case: str, tmp_path: Path) -> None:
    # A label no class has, or a span that ends before it starts, would match no detection
    # and score every detector as blind, without a word.
    content, message = BAD_TRUTH[case]
    path = tmp_path / "x.truth.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(RecordingError) as err:
        read_truth(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
