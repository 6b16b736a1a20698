"""What a configuration trusts without saying so: checks on secrets and on partner links.

Two kinds of findings, named by their field path like every config problem:

- **problems** (``check-config`` exits 2): a secret file (an uplink's ``password_file`` or
  ``tls.key_file``, the report signing key) that the service cannot read, or that other
  users can read or change. Secrets are ``root:ugs-gateway`` mode ``0640``: the service reads
  them, cannot change them, nobody else sees them.
- **warnings** (printed by ``check-config``, logged at every start, and in the status): a
  link that verifies nobody (``tls.verify = false``) or that sends a password in the clear
  (``tls = false`` with ``password_file``), which lab setups need and a field unit should
  not; and a secret file that does not exist yet (the example config names files a
  technician puts in place later; the link fails until then and says so).

The service runs with problems too (a unit in the field must not fall silent over a file
mode), but logs them as errors and reports them in its status until they are fixed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import GatewayConfig
    from gateway.uplinks.config import AnyUplinkConfig

SECRET_MODE = "root:ugs-gateway 0640"


def secret_file_missing(path: Path) -> str | None:
    """A warning when the secret file does not exist (yet), else None."""
    if path.exists():
        return None
    return f"{path} does not exist (yet): the link cannot authenticate until it does"


def secret_file_problem(path: Path) -> str | None:
    """Why an existing ``path`` is not a well-kept secret for this process, or None."""
    try:
        info = path.stat()
        with path.open("rb"):
            pass
    except FileNotFoundError:
        return None  # a warning (secret_file_missing), not a problem
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return (
            f"{path} cannot be read by this user (uid {os.geteuid()}): {reason}; the service "
            f"must read it: make it {SECRET_MODE} (chgrp ugs-gateway, chmod 0640)"
        )
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    others = info.st_mode & 0o007
    if others:
        what = "read" if others & 0o004 else "changed"
        return (
            f"{path} can be {what} by every user on the unit (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); make it {SECRET_MODE} (chmod o= {path})"
        )
    return None


def _password_file(uplink: AnyUplinkConfig) -> Path | None:
    """An MQTT link's password file (a SAPIENT link has none)."""
    return getattr(uplink, "password_file", None)


def _uplink_secrets(uplink: AnyUplinkConfig) -> list[tuple[str, Path]]:
    found = []
    password = _password_file(uplink)
    if password is not None:
        found.append(("password_file", password))
    if uplink.tls.enabled and uplink.tls.key_file is not None:
        found.append(("tls.key_file", uplink.tls.key_file))
    return found


def link_warnings(uplink: AnyUplinkConfig) -> list[tuple[str, str]]:
    """(field, warning) for an uplink that trusts more than it should."""
    found = []
    peer = "fusion node" if uplink.protocol == "sapient" else "broker"
    if uplink.tls.enabled and not uplink.tls.verify:
        found.append(
            (
                "tls.verify",
                f"TLS without verifying the {peer} (verify = false): anyone on the path can "
                f"pose as the {peer} and read or change the reports; for lab tests only",
            )
        )
    if not uplink.tls.enabled and _password_file(uplink) is not None:
        found.append(
            (
                "password_file",
                "password sent without TLS (tls = false): anyone on the path can read it; "
                "use TLS, or no password on a lab broker",
            )
        )
    return found


def config_problems(config: GatewayConfig) -> list[str]:
    """Field-path lines for secrets that are not kept as secrets (see the module doc)."""
    lines = []
    for index, uplink in enumerate(config.uplinks):
        for field, path in _uplink_secrets(uplink):
            problem = secret_file_problem(path)
            if problem is not None:
                lines.append(f"uplinks[{index}].{field}: {problem}")
    key = config.signing.key_file
    if key is not None:
        problem = secret_file_problem(key)
        if not key.exists():
            problem = f"{key} does not exist: make it with `ugs-gateway key generate {key}`"
        if problem is not None:
            lines.append(f"signing.key_file: {problem}")
    return lines


def config_warnings(config: GatewayConfig) -> list[str]:
    """Field-path lines for links that trust more than they should, and missing secrets."""
    lines = []
    for index, uplink in enumerate(config.uplinks):
        for field, text in link_warnings(uplink):
            lines.append(f"uplinks[{index}].{field}: {text}")
        for field, path in _uplink_secrets(uplink):
            missing = secret_file_missing(path)
            if missing is not None:
                lines.append(f"uplinks[{index}].{field}: {missing}")
    return lines


def status_warnings(config: GatewayConfig) -> list[str]:
    """The same findings as the status says them: ``uplink NAME: ...`` for a link's (so that
    each partner sees those of its own link), ``secrets: ...`` for the rest."""
    lines = []
    for uplink in config.uplinks:
        for _, text in link_warnings(uplink):
            lines.append(f"uplink {uplink.name}: {text}")
        for field, path in _uplink_secrets(uplink):
            if secret_file_problem(path) is not None:
                lines.append(f"uplink {uplink.name}: {field} is not kept secret (check-config)")
    if config.signing.key_file is not None and secret_file_problem(config.signing.key_file):
        lines.append("secrets: signing.key_file is not kept secret (check-config)")
    return lines
