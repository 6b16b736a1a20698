"""Three-axis magnetometer driver: Modbus TCP or RTU, register map in docs/registers.md.

Delivers three channels per sample, x, y, z in nT (signed 32-bit, bit-exact as the device
reports them).
"""

from __future__ import annotations

from typing import ClassVar

from drivers.modbus.registers import MAGNETOMETER_MAP, RegisterMap
from drivers.modbus.sensor import ModbusSensor
from drivers.registry import register


@register("magnetometer")
class MagnetometerDriver(ModbusSensor):
    """Polls one magnetometer; ``MagnetometerDriver(config, sink, clock=time.time, bus=None)``."""

    REGMAP: ClassVar[RegisterMap] = MAGNETOMETER_MAP
    CHANNELS = ("x_nT", "y_nT", "z_nT")
