"""Modes: [dsp] profiles, the unit's current mode, and what survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsp.config import DspConfig
from gateway.modes import ModesConfig, load_mode, mode_dsp
from gateway.uplinks import TaskRefusedError
from tests.gateway.sapient_rig import unit_control

MODES = ModesConfig.model_validate(
    {
        "profiles": {
            "sensitive": {"dsp": {"seismic": {"trigger_on": 2.4}, "classifier": {"min_conf": 0.5}}}
        }
    }
)


def test_a_profile_overrides_only_what_it_names() -> None:
    base = DspConfig.model_validate({"seismic": {"sta_s": 0.8}})
    merged = mode_dsp(base, MODES, "sensitive")
    assert merged.seismic.trigger_on == 2.4 and merged.classifier.min_conf == 0.5
    assert merged.seismic.sta_s == 0.8  # from [dsp]
    assert mode_dsp(base, MODES, "normal") == base
    with pytest.raises(ValueError, match="not a mode"):
        mode_dsp(base, MODES, "turbo")


def test_the_mode_set_survives_a_restart_unless_it_is_no_longer_defined(tmp_path: Path) -> None:
    applied: list[DspConfig] = []
    unit = unit_control(tmp_path, applied)
    unit.set_mode("sensitive", by="test")
    assert unit.mode == "sensitive" and applied[-1].seismic.trigger_on == 2.4
    assert load_mode(tmp_path, MODES) == "sensitive"
    assert load_mode(tmp_path, ModesConfig()) == "normal"  # the profile was removed
    with pytest.raises(TaskRefusedError, match="no mode 'turbo'"):
        unit.set_mode("turbo", by="test")
    unit.reconfigure(DspConfig(), ModesConfig())
    assert unit.mode == "normal" and applied[-1] == DspConfig()


def test_mode_at_follows_the_changes(tmp_path: Path) -> None:
    unit = unit_control(tmp_path)
    started = unit._started
    assert unit.mode_at(started - 1) is None
    assert unit.mode_at(started + 0.001) == "normal"
    unit.set_mode("sensitive", by="test")
    assert unit.mode_at(started + 1e6) == "sensitive"


def test_snippets_name_why_there_is_none(tmp_path: Path) -> None:
    unit = unit_control(tmp_path)
    with pytest.raises(TaskRefusedError, match="no detection"):
        unit.snippet("ugs-s1-1-1")  # seq 0 so far: no report made
    unit._seq = lambda: 5
    with pytest.raises(TaskRefusedError, match="does not record snippets"):
        unit.snippet("ugs-s1-1-1")
    with pytest.raises(TaskRefusedError, match="no detection"):
        unit.snippet("other-node-1-1")
