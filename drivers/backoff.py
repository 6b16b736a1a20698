"""Jittered exponential backoff for reopening ports and re-polling dead devices."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, with full jitter.

    Full jitter (a uniform draw between half the step and the step) keeps many field units
    that lost the same link from redialling in lockstep.
    """

    def __init__(
        self,
        initial: float = 0.2,
        maximum: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._rng = rng or random.Random()
        self._step = initial
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call makes the following one longer."""
        step = self._step
        self._step = min(self.maximum, self._step * self.factor)
        self.attempts += 1
        return self._rng.uniform(step / 2, step)

    def reset(self) -> None:
        """Call after a success: the next failure starts again from ``initial``."""
        self._step = self.initial
        self.attempts = 0
