"""Re-export of the project's error hierarchy for code inside ``gateway``."""

from drivers.errors import (
    ConfigError,
    DeviceError,
    InputError,
    ProtocolError,
    RecordingError,
    StorageError,
    UgsError,
    UplinkError,
)

__all__ = [
    "ConfigError",
    "DeviceError",
    "InputError",
    "ProtocolError",
    "RecordingError",
    "StorageError",
    "UgsError",
    "UplinkError",
]
