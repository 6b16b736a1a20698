"""PIR sensor driver: Modbus RTU (or TCP), register map in docs/registers.md.

Delivers two channels per sample: the pyroelectric level (signed 16-bit counts) and the
device's own motion flag (0/1).
"""

from __future__ import annotations

from typing import ClassVar

from drivers.modbus.registers import PIR_MAP, RegisterMap
from drivers.modbus.sensor import ModbusSensor
from drivers.registry import register


@register("pir")
class PirDriver(ModbusSensor):
    """Polls one PIR; ``PirDriver(config, sink, clock=time.time, bus=None)``."""

    REGMAP: ClassVar[RegisterMap] = PIR_MAP
    CHANNELS = ("level", "motion")
