"""docs/configuration.md is the schema, written out: it must not drift from it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from dsp.config import DspConfig
from gateway.config_reference import reference

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
EXAMPLE = ROOT / "systemd" / "config.example.toml"


def test_the_reference_matches_the_schema() -> None:
    assert DOC.read_text() == reference(), (
        "the config schema changed: regenerate the reference with "
        "`python -m gateway.config_reference > docs/configuration.md`"
    )


def test_every_section_of_the_example_is_documented() -> None:
    text = DOC.read_text()
    for section in tomllib.loads(EXAMPLE.read_text()):
        assert f"## `{section}`" in text


def test_the_example_keeps_the_detectors_measured_defaults() -> None:
    # Every figure in docs/evaluation.md is measured at the [dsp] defaults: a unit installed
    # from the example must run with them unless its technician chooses otherwise.
    dsp = tomllib.loads(EXAMPLE.read_text()).get("dsp", {})
    assert DspConfig.model_validate(dsp) == DspConfig()
