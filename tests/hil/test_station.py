"""The emulated station: pluggable waveforms, fault lookup, and the config it writes."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import numpy as np
import pytest

from gateway.config import parse_config
from hil.emulators.source import ArraySource
from hil.station import EmulatedStation, config_toml, write_config


def test_a_given_source_replaces_the_built_in_waveform(tmp_path: Path) -> None:
    source = ArraySource(np.arange(1500).reshape(500, 3), 500, loop=True)
    with EmulatedStation(kinds=("seismic",), sources={"seismic": source}) as station:
        (endpoint,) = station.endpoints
        assert endpoint.sensor["sample_rate"] == 500 and endpoint.sensor["channels"] == 3
        assert os.path.islink(endpoint.address)
        assert station.faults("geo1") is station.faults("seismic")
        runtime = station.runtime_dir
    assert not runtime.exists()  # its temporary directory goes with it


def test_config_written_for_the_station_validates(tmp_path: Path) -> None:
    with EmulatedStation(kinds=("seismic",), seed=4) as station:
        path = tmp_path / "gw.toml"
        write_config(path, config_toml(station.sensors(), comment="two\nlines", site="s-1"))
        data = tomllib.loads(path.read_text())
    config = parse_config(data, base_dir=tmp_path)
    assert config.node.site == "s-1" and config.node.state_dir == tmp_path / "hil-state"
    assert config.sensors[0].calibration.units == "m/s"
    assert path.read_text().startswith("# two\n# lines\n")


def test_toml_values_are_escaped() -> None:
    text = config_toml([{"name": 'a"b\\c', "enabled": False, "x": 1.5}])
    assert tomllib.loads(text)["sensors"][0] == {"name": 'a"b\\c', "enabled": False, "x": 1.5}
    with pytest.raises(TypeError):
        config_toml([{"bad": object()}])


def test_bad_station_parameters() -> None:
    with pytest.raises(ValueError, match="unknown sensor kind"):
        EmulatedStation(kinds=("radar",))
    with pytest.raises(ValueError, match="speed"):
        EmulatedStation(speed=0)


def test_a_string_with_a_newline_stays_valid_toml() -> None:
    text = config_toml([{"name": "geo1", "port": "a\nb"}], comment="one")
    assert tomllib.loads(text)["sensors"][0]["port"] == "a\nb"
