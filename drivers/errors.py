"""The one error hierarchy of the project.

It lives in the lowest package that may be imported by all the others (``dsp`` needs none of
it; ``gateway`` and ``hil`` re-use it). Messages are written for a technician: they say what
was wrong and what to check.
"""

from __future__ import annotations


class UgsError(Exception):
    """Base of every error the gateway reports to a person."""


class InputError(UgsError):
    """Bad input from the user (arguments, files): the command exits with code 2."""


class ConfigError(InputError):
    """A configuration that cannot be used; carries one line per problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class RecordingError(InputError):
    """A waveform recording that cannot be read (missing, empty, truncated, unknown format)."""


class DeviceError(UgsError):
    """A device that does not answer, or a port that cannot be opened."""


class ProtocolError(UgsError):
    """Bytes on a line that do not follow the device's protocol."""


class StorageError(UgsError):
    """The durable outbox or state directory cannot be used."""


class UplinkError(UgsError):
    """An MQTT uplink that cannot be set up (bad TLS material, unreadable password file)."""
