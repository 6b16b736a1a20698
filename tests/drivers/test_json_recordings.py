"""JSON as loggers write it: bare arrays, and packets of samples sent one after another
(an MQTT node's messages saved in a list, or one per line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drivers.errors import RecordingError
from drivers.recordings import read_recording, sniff


def _packets(n_packets: int, size: int, rate: float, **clock: float) -> list[dict]:
    """Packets of ``size`` raw counts each, as a node sends them; ``clock`` names a field and
    its first value, stepped by one packet's duration in that field's unit per packet."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(n_packets):
        packet = {
            "uuid": "NODE-1",
            "gain": 255.0,
            "data": [int(v) for v in 2150 + rng.integers(-60, 60, size)],
        }
        for key, (first, per_s) in clock.items():
            packet[key] = first + i * size / rate * per_s
        out.append(packet)
    return out


def test_a_nodes_packets_are_joined_and_timed_by_their_epoch_stamps(tmp_path: Path) -> None:
    packets = _packets(40, 500, 4325.0, timestamp=(1_775_436_184_183.0, 1e3))
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(packets))
    assert sniff(path) == "json"
    rec = read_recording(path)
    geo = rec.channels["geo1"]
    assert geo.kind == "seismic" and len(geo) == 40 * 500
    assert geo.data[:500, 0].tolist() == packets[0]["data"]  # raw counts, as sent
    assert geo.rate == pytest.approx(4325.0, rel=1e-6)  # epoch milliseconds
    assert rec.start_time == pytest.approx(1_775_436_184.183)


def test_the_packets_flattened_to_csv_rows_keep_the_rate_their_stamps_give(
    tmp_path: Path,
) -> None:
    # A row a sample, each with its packet's arrival stamp (late by up to 30 ms), the last
    # packet cut short by the clip's end: as the JSON packets are read.
    packets = _packets(40, 500, 4325.0, timestamp=(1_775_436_184_183.0, 1e3))
    late = np.random.default_rng(2).uniform(0.0, 30.0, len(packets))
    for packet, ms in zip(packets, late, strict=True):
        packet["timestamp"] = round(packet["timestamp"] + ms)
    packets[-1]["data"] = packets[-1]["data"][:120]
    (tmp_path / "clip.json").write_text(json.dumps(packets))
    rows = [f"{p['timestamp']},{v}" for p in packets for v in p["data"]]
    (tmp_path / "clip.csv").write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    from_json = read_recording(tmp_path / "clip.json")
    from_csv = read_recording(tmp_path / "clip.csv")
    geo = from_csv.channels["geo1"]
    assert geo.rate == pytest.approx(from_json.channels["geo1"].rate, rel=1e-9)
    assert geo.rate == pytest.approx(4325.0, rel=0.01)
    np.testing.assert_array_equal(geo.data, from_json.channels["geo1"].data)
    assert "the rows carry their packet's stamp (500 rows a stamp)" in from_csv.meta["rate_note"]


def test_records_of_one_sample_each_are_read_as_the_table_they_are(tmp_path: Path) -> None:
    # A message log's export: a record per sample, stamped in epoch milliseconds, labelled.
    counts = 2048 + np.random.default_rng(4).integers(-9, 10, 2000)
    t0 = 1_775_337_356_666
    records = [
        {"uuid": "GEOSCOPE-1", "timestamp": t0 + 2 * i, "value": int(v), "label": int(i > 1000)}
        for i, v in enumerate(counts)
    ]
    path = tmp_path / "log.json"
    path.write_text(json.dumps(records))
    lines = tmp_path / "log.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    for each in (path, lines):
        rec = read_recording(each)
        geo = rec.channels["geo1"]
        assert geo.rate == pytest.approx(500.0) and rec.start_time == pytest.approx(t0 / 1e3)
        assert np.array_equal(geo.data[:, 0], counts)  # the label is not a sample
        assert rec.meta["format"] == "json" and "label" in rec.meta["read_note"]
        assert "field 'uuid' is text, not samples: left out" in rec.meta["read_note"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([{"adc": int(v)} for v in counts]))
    with pytest.raises(RecordingError, match="records without a time field need their sample"):
        read_recording(bare)
    assert read_recording(bare, rate=250.0).channels["geo1"].rate == 250.0
    records[6]["value"] = None
    path.write_text(json.dumps(records))
    with pytest.raises(RecordingError, match=r"log\.json record 7, field 'value': 'null' is not"):
        read_recording(path)
    clock = tmp_path / "clock.json"
    clock.write_text(json.dumps([{"t": i / 100} for i in range(300)]))
    with pytest.raises(RecordingError, match=r"records with no field of samples \(fields: t\)"):
        read_recording(clock)
    records[6] = {"ts": 1, "value": 2}
    path.write_text(json.dumps(records))
    with pytest.raises(RecordingError, match="record 7 has the fields ts, value, not those"):
        read_recording(path)


def test_arrays_of_one_axis_each_are_the_components_of_one_sensor(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    axes = rng.normal(0.0, 5.0, (640, 3)) + np.array([430.0, -120.0, 910.0])
    doc = {"sample_rate": 10.65, **{f"mag_{a}": axes[:, i].tolist() for i, a in enumerate("xyz")}}
    path = tmp_path / "mag.json"
    path.write_text(json.dumps(doc))
    (mag,) = read_recording(path).channels.values()
    assert mag.kind == "magnetometer" and mag.rate == pytest.approx(10.65)  # named by its axes
    np.testing.assert_allclose(mag.data, axes)
    # A node's packets of three axes, stamped: one geophone of three components.
    packets = _packets(30, 500, 4325.0, timestamp=(1_775_436_184_183.0, 1e3))
    for packet in packets:
        samples = packet.pop("data")
        packet.update({"x": samples, "y": samples[::-1], "z": samples})
    path.write_text(json.dumps(packets))
    (geo,) = read_recording(path).channels.values()
    assert geo.kind == "seismic" and geo.data.shape == (30 * 500, 3)
    assert geo.data[:500, 1].tolist() == packets[0]["y"]
    # x and y alone are a plot's time and value.
    path.write_text(json.dumps({"fs": 100, "x": list(range(300)), "y": [1.0] * 300}))
    assert read_recording(path).channels["geo1"].data.shape == (300, 1)
    packets[3]["z"] = packets[3]["z"][:400]
    path.write_text(json.dumps(packets))
    with pytest.raises(RecordingError, match=r"packet 4's components differ in length \(x 500"):
        read_recording(path)


def test_a_rate_one_level_down_in_the_document(tmp_path: Path) -> None:
    path = tmp_path / "clip.json"
    path.write_text(json.dumps({"meta": {"sampling_rate": 4310.3}, "samples": list(range(900))}))
    assert read_recording(path).channels["geo1"].rate == pytest.approx(4310.3)


def test_json_lines_with_a_clock_that_names_its_unit(tmp_path: Path) -> None:
    packets = _packets(10, 250, 500.0, t_us=(0.0, 1e6))
    path = tmp_path / "node.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in packets) + "\n")
    rec = read_recording(path, sensor="pir")
    assert rec.channels["pir1"].rate == pytest.approx(500.0)
    assert len(rec.channels["pir1"]) == 2500


def test_a_rate_field_or_the_given_rate_wins(tmp_path: Path) -> None:
    doc = {"sample_rate": 100.0, "packets": _packets(3, 100, 100.0, timestamp=(1e12, 1e3))}
    path = tmp_path / "pir.json"
    path.write_text(json.dumps(doc))
    assert read_recording(path).channels["geo1"].rate == 100.0
    assert read_recording(path, rate=50.0).channels["geo1"].rate == 50.0


def test_bare_arrays_need_a_rate_and_rows_are_components(tmp_path: Path) -> None:
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(list(range(1000))))
    with pytest.raises(RecordingError, match="give --rate"):
        read_recording(flat)
    assert len(read_recording(flat, rate=200.0).channels["geo1"]) == 1000
    rows = tmp_path / "mag.json"
    rows.write_text(json.dumps([[20000.0 + i, 3000.0, 43000.0] for i in range(300)]))
    mag = read_recording(rows, sensor="magnetometer", rate=10.65).channels["mag1"]
    assert mag.data.shape == (300, 3) and mag.rate == 10.65


def test_a_clock_of_unknown_unit_is_a_hint_not_a_guess(tmp_path: Path) -> None:
    # A device clock in microseconds since it booted: nothing says it is microseconds.
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(_packets(20, 500, 4325.0, sendTime=(3_777_798_798.0, 1e6))))
    with pytest.raises(RecordingError, match=r"--rate HZ .*4325 Hz if 'sendTime' counts micro"):
        read_recording(path)
    assert read_recording(path, rate=4300.0).channels["geo1"].rate == 4300.0


def test_packets_out_of_their_clocks_order_give_no_rate(tmp_path: Path) -> None:
    # Saved in some other order (a list reversed, messages sorted by something else): the
    # clock's steps between them say nothing of the rate (shuffled, they said 5 MHz).
    packets = _packets(30, 500, 4325.0, timestamp=(1_775_436_184_183.0, 1e3))
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(packets[::-1]))
    with pytest.raises(RecordingError, match=r"'timestamp' goes back at 29 of its 29 steps"):
        read_recording(path)
    order = np.random.default_rng(3).permutation(30)
    path.write_text(json.dumps([packets[i] for i in order]))
    with pytest.raises(RecordingError, match=r"no sample rate in the file: give --rate HZ"):
        read_recording(path)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[{"data": [1, 2, 3], ', "not valid JSON"),
        ('["a", "b", "c"]', "not an array of numbers"),
        ('{"gain": 3, "id": "x"}', "no array of samples"),
        ('[{"data": [1, 2]}, {"other": [3]}]', "packet 2 has no 'data' array"),
        ('{"a": [1, 2, 3], "b": [4, 5, 6]}', "which array holds the samples"),
        ('[{"data": [1, 2]}, 5]', "mixes objects and samples"),
        ("[[1, 2], [3, 4, 5]]", "not an array of numbers"),
        ("[]", "holds no samples"),
    ],
)
def test_bad_json_is_a_recording_error_naming_the_file(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(RecordingError, match=says) as err:
        read_recording(path, rate=100.0)
    assert str(path) in str(err.value)
