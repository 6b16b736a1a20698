"""The import rules of docs/architecture.md, checked on every module of the four packages.

Every import counts, also those inside functions (commands import lazily to keep --help
fast). A failure names the module, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "drivers", "dsp", "hil")

MAY_IMPORT = {
    "dsp": {"dsp"},
    "drivers": {"drivers"},
    "hil": {"hil", "drivers", "dsp"},
    "gateway": {"gateway", "drivers", "dsp", "hil"},
}
"""Top-level package -> the project's packages its modules may import."""

TOOLS = ("gateway.commands", "gateway.demo", "gateway.bench", "gateway.walktest")
"""The parts of gateway that may use the test bench (hil); the service runs without it."""

INNER_RULES = {
    # The outbox knows reports, not who carries them.
    "gateway.outbox": ("gateway.uplinks", "gateway.service", "gateway.pipeline", "gateway.health"),
    # An uplink reads the outbox; it knows nothing of the service around it.
    "gateway.uplinks": ("gateway.service", "gateway.pipeline", "gateway.health"),
    # Nothing in the running service depends on a command or a benchmark.
    "gateway.health": ("gateway.service", "gateway.commands", "gateway.bench"),
    "gateway.service": ("gateway.commands", "gateway.bench", "gateway.demo"),
}
"""Module prefix -> module prefixes it must not import."""

REFERENCE_ONLY = {"scipy": ("gateway.bench",), "obspy": ("gateway.bench",)}
"""Test-only references: only the benchmarks (and the tests) may import them."""


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # "from gateway import warmup" imports gateway.warmup
                yield node.lineno, f"{node.module}.{alias.name}"


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def problems() -> list[str]:
    found = []
    for module, path in modules():
        top = module.split(".")[0]
        for line, target in imports(path):
            where = f"{path.relative_to(ROOT)}:{line}: {module} imports {target}"
            target_top = target.split(".")[0]
            if target_top in PACKAGES and target_top not in MAY_IMPORT[top]:
                found.append(f"{where} ({top} may import only {sorted(MAY_IMPORT[top])})")
            if (
                target_top == "hil"
                and top == "gateway"
                and not any(within(module, tool) for tool in TOOLS)
            ):
                found.append(f"{where} (only {', '.join(TOOLS)} may use the test bench)")
            for prefix, banned in INNER_RULES.items():
                if within(module, prefix) and any(within(target, b) for b in banned):
                    found.append(f"{where} ({prefix} must not import {', '.join(banned)})")
            allowed = REFERENCE_ONLY.get(target_top)
            if allowed is not None and not any(within(module, a) for a in allowed):
                found.append(f"{where} ({target_top} is a test-only reference)")
    return found


def test_every_import_follows_the_layering() -> None:
    assert problems() == []


@pytest.mark.parametrize(
    ("module", "target", "rule"),
    [
        ("dsp.detector", "drivers.block", "dsp may import only"),
        ("drivers.manager", "hil.emulators.pty", "drivers may import only"),
        ("gateway.service", "hil.station", "test bench"),
        ("gateway.outbox.store", "gateway.uplinks.mqtt", "must not import"),
        ("dsp.stalta", "scipy.signal", "test-only reference"),
    ],
)
def test_a_broken_rule_is_caught(
    module: str, target: str, rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(f"def f():\n    import {target}\n")
    monkeypatch.setattr("tests.test_layering.modules", lambda: iter([(module, fake)]))
    monkeypatch.setattr("tests.test_layering.ROOT", tmp_path)
    assert any(rule in line for line in problems()), problems()
