"""Single keys from the technician's terminal, and what each one means.

``w`` walk, ``r`` run, ``v`` vehicle: a pass starts now; ``n``: nothing is happening (the
pass is over). Digits (and a point) type a distance in metres: Enter gives it to the pass
going on, or typed before ``w``/``r``/``v`` it goes with the pass they start. Backspace
takes a digit back, Escape clears them, ``q`` ends the walk test.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import tty
from dataclasses import dataclass

from gateway.walktest.session import WalkTest
from hil.marks import KEYS, MarkError, check_range


class Keys:
    """A terminal in cbreak mode (keys arrive one by one, unechoed) until :meth:`close`."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)

    def read(self, timeout: float = 0.0) -> str:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return ""
        try:
            data = os.read(self.fd, 64)
        except OSError:
            return ""
        return data.decode("utf-8", errors="ignore")

    def close(self) -> None:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)


@dataclass
class KeyMarker:
    """Turns keys into marks on a walk test; ``typed`` holds the digits so far."""

    session: WalkTest
    typed: str = ""
    quit: bool = False
    message: str = ""

    def handle(self, keys: str) -> list[str]:
        """Apply the keys; what happened, one line each."""
        done: list[str] = []
        for ch in keys:
            key = ch.lower()
            if key in KEYS:
                done.append(self._mark(KEYS[key]))
            elif ch.isdigit() or (ch == "." and "." not in self.typed):
                self.typed = (self.typed + ch)[:6]
            elif ch in ("\x7f", "\b"):
                self.typed = self.typed[:-1]
            elif ch == "\x1b":
                self.typed = ""
            elif ch in ("\r", "\n"):
                line = self._distance()
                if line:
                    done.append(line)
            elif key == "q":
                self.quit = True
        if done:
            self.message = done[-1]
        return done

    def _value(self) -> float | None:
        text, self.typed = self.typed, ""
        if not text:
            return None
        try:
            return check_range(text, "distance")
        except MarkError as exc:
            self.message = str(exc)
            return None

    def _mark(self, kind: str) -> str:
        range_m = self._value() if kind != "nothing" else None
        mark = self.session.mark(kind, range_m)
        return f"mark: {mark.describe()}"

    def _distance(self) -> str | None:
        value = self._value()
        if value is None:
            return None
        mark = self.session.set_range(value)
        if mark is None:
            self.message = "no pass going on: press w, r or v first (or type the distance before)"
            return None
        return f"mark: {mark.describe()}"
