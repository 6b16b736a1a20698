"""Synthetic scenarios: what each holds (``specs``), how its events are placed and judged
detectable (``events``), and the generator that renders a recording with its truth
(``generator``). ``generate`` and ``SCENARIOS`` are the public face."""

from hil.scenarios.generator import (
    GENERATOR_VERSION,
    SCENARIOS,
    UnknownScenarioError,
    generate,
)

__all__ = ["GENERATOR_VERSION", "SCENARIOS", "UnknownScenarioError", "generate"]
