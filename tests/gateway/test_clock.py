"""The clock rule: the table partners read in docs/messages.md is what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway import clock
from gateway.detection_report import detection_fields

MESSAGES = Path(__file__).resolve().parents[2] / "docs" / "messages.md"


def rule_rows() -> list[list[str]]:
    text = MESSAGES.read_text()
    table = text[text.index("| the clock reads |") :].split("\n\n")[0]
    rows = table.splitlines()
    header, body = rows[0], rows[2:]
    assert header.startswith("| the clock reads | the kernel says | timesyncd's flag |")
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in body]


def test_the_spec_names_the_floor_the_code_uses() -> None:
    text = MESSAGES.read_text()
    stated = set(re.findall(r"before (\d{4}-\d{2}-\d{2})", text))
    assert stated == {clock.FLOOR.isoformat()}
    assert len(rule_rows()) == 5


@pytest.mark.parametrize("row", rule_rows(), ids=lambda row: " / ".join(row[:3]))
def test_each_row_of_the_spec_is_what_the_code_does(row: list[str]) -> None:
    reads, kernel_says, flag, report = row
    now = clock.FLOOR_S - 1.0 if reads.startswith("before") else clock.FLOOR_S + 1.0
    kernel = {"synchronised": True, "unsynchronised": False, "cannot be asked": None, "any": None}
    flags = {"present": [True], "absent": [False], "any": [True, False]}[flag]
    kernels = [True, False, None] if kernel_says == "any" else [kernel[kernel_says]]
    for k in kernels:
        for f in flags:
            verdict = clock.judge(now, k, lambda f=f: f)
            fields = detection_fields(
                "footstep", 0.9, now - 5.0, now, ["geo1"], clock_ok=verdict.synced
            )
            marked = fields.get("clock") == "unsynced"
            assert marked == ("unsynced" in report), (row, k, f)


def test_every_user_reads_the_one_floor() -> None:
    assert clock.plausible(clock.FLOOR_S) and not clock.plausible(clock.FLOOR_S - 1)
    root = MESSAGES.parents[1]
    for package in ("gateway", "drivers", "dsp", "hil"):
        for path in (root / package).rglob("*.py"):
            if path.name == "clock.py":
                continue
            text = path.read_text()
            assert not re.search(r"\b(1_?70[0-9_]{7,}|RELEASE_YEAR|NOT_BEFORE)\b", text), path
