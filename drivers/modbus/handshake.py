"""What a driver does each time it (re)connects to a FIFO device (docs/registers.md)."""

from __future__ import annotations

from drivers.config import PolledSensorConfig
from drivers.errors import DeviceError
from drivers.modbus.registers import (
    CONTROL_CLEAR_RESTARTED,
    DEVICE_TYPES,
    HR_CONTROL,
    HR_SAMPLE_RATE,
    IDENTITY_COUNT,
    IR_DEVICE_TYPE,
    IR_FIFO,
    IR_STATUS,
    MAP_VERSION,
    STATUS_RESTARTED,
    RegisterMap,
)
from drivers.modbus.transport import BadReplyError, ModbusLink


class WrongDeviceError(DeviceError):
    """Something answers at the configured address, but not the configured kind of device."""


def identify(
    link: ModbusLink, config: PolledSensorConfig, regmap: RegisterMap, timeout: float
) -> int:
    """Check that the device is the configured kind and speaks this map; returns its STATUS."""
    head = link.read_input_registers(config.device_id, IR_DEVICE_TYPE, IR_FIFO, timeout)
    device_type, version, depth, words = head[:IDENTITY_COUNT]
    where = f"device {config.device_id} on {config.port}"
    if device_type != regmap.device_type:
        other = DEVICE_TYPES.get(device_type, f"unknown device type 0x{device_type:04x}")
        raise WrongDeviceError(
            f"{where} is a {other}, not a {regmap.kind}: check device_id and wiring"
        )
    if (version, depth, words) != (MAP_VERSION, regmap.fifo_depth, regmap.sample_words):
        raise WrongDeviceError(
            f"{where} has register map {version} (FIFO {depth}x{words}); "
            f"this driver speaks map {MAP_VERSION}"
        )
    return head[IR_STATUS]


def set_sample_rate(link: ModbusLink, config: PolledSensorConfig, timeout: float) -> None:
    """Make the device sample at the configured rate (it forgets it when it restarts)."""
    wanted = round(config.rate)
    (rate,) = link.read_holding_registers(config.device_id, HR_SAMPLE_RATE, 1, timeout)
    if rate != wanted:
        link.write_register(config.device_id, HR_SAMPLE_RATE, wanted, timeout)
        (rate,) = link.read_holding_registers(config.device_id, HR_SAMPLE_RATE, 1, timeout)
        if rate != wanted:
            raise BadReplyError(
                f"device {config.device_id} kept sample rate {rate} Hz, not {wanted}"
            )


def acknowledge_restart(
    link: ModbusLink, config: PolledSensorConfig, status: int, timeout: float
) -> bool:
    """Clear RESTARTED if set (after the settings are applied); True if it was."""
    if not status & STATUS_RESTARTED:
        return False
    link.write_register(config.device_id, HR_CONTROL, CONTROL_CLEAR_RESTARTED, timeout)
    return True
