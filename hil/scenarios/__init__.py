"""Synthetic scenarios: what each holds (``specs``), how its events are placed and judged
detectable (``events``), and the generator that renders a recording with its truth
(``generator``), through a unit's hardware when a site is given (``site_render``).
``generate``, ``SCENARIOS`` and ``scenario_site`` are the public face."""

from hil.scenarios.generator import (
    GENERATOR_VERSION,
    SCENARIOS,
    UnknownScenarioError,
    generate,
    scenario_site,
)

__all__ = ["GENERATOR_VERSION", "SCENARIOS", "UnknownScenarioError", "generate", "scenario_site"]
