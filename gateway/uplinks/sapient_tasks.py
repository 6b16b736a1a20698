"""SAPIENT tasks a fusion node gives the unit: which are accepted, and what each does.

The unit accepts (each only when the uplink's ``tasking`` grants it):

- ``command.request`` = ``Registration`` (register again), ``Status`` (a status report now),
  ``Reset`` (back to the initial mode, reports on, register again), ``Stop`` (no detection
  reports to this fusion node until ``Start``), ``Start``; the case of the text is ignored;
- ``command.mode_change`` = the name of a mode the config defines.

Everything else is rejected with a reason: other commands (thresholds, look-at, move, ...),
tasks with regions or start/end times, controls other than ``CONTROL_START``. A task whose
``task_id`` is not a ULID cannot be acknowledged: the caller answers it with an ``error``.
:func:`decide` is pure apart from the mode change it makes through the unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sapient_msg.bsi_flex_335_v2_0 import task_pb2

from gateway.uplinks import TaskRefusedError
from gateway.uplinks.sapient_codec import is_ulid

if TYPE_CHECKING:
    from gateway.uplinks import Unit

Task = task_pb2.Task

REGISTER = "register"
STATUS = "status"
STOP = "stop"
START = "start"


@dataclass
class Outcome:
    """What to answer (accepted, reasons) and what the link does after the ack."""

    accepted: bool
    reasons: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)
    summary: str = ""


def _supported(grants: Sequence[str]) -> str:
    requests = [r.capitalize() for r in ("registration", "status", "reset", "stop", "start")]
    granted = [r for r in requests if r.lower() in grants]
    parts = [f"request {'/'.join(granted)}"] if granted else []
    if "mode" in grants:
        parts.append("mode_change")
    return ", ".join(parts) or "none"


def reject(reason: str, summary: str) -> Outcome:
    return Outcome(False, [reason], summary=summary)


def decide(task: Task, grants: Sequence[str], unit: Unit, by: str) -> Outcome:
    """The answer to ``task`` (whose ``task_id`` the caller has checked)."""
    command = task.command.WhichOneof("command") if task.HasField("command") else None
    summary = command or "no command"
    if command == "request":
        summary = f"request {task.command.request!r}"
    elif command == "mode_change":
        summary = f"mode_change {task.command.mode_change!r}"
    if task.control != Task.CONTROL_START:
        name = (
            Task.Control.Name(task.control)
            if task.control in Task.Control.values()
            else task.control
        )
        return reject(
            f"control {name} is not supported: this unit runs each task at once (CONTROL_START)",
            summary,
        )
    if len(task.region):
        return reject("tasks with regions are not supported by this unit", summary)
    if task.HasField("task_start_time") or task.HasField("task_end_time"):
        return reject("scheduled tasks (start/end time) are not supported by this unit", summary)
    if command is None:
        return reject(f"the task has no command (supported: {_supported(grants)})", summary)
    if command == "request":
        request = task.command.request.strip().lower()
        if request not in ("registration", "status", "reset", "stop", "start"):
            return reject(
                f"request {task.command.request!r} is not supported "
                f"(supported: {_supported(grants)})",
                summary,
            )
        if request not in grants:
            return reject(f"request {task.command.request!r} is not granted to this link", summary)
        if request == "registration":
            return Outcome(True, effects=[REGISTER], summary=summary)
        if request == "status":
            return Outcome(True, effects=[STATUS], summary=summary)
        if request == "stop":
            return Outcome(True, effects=[STOP, STATUS], summary=summary)
        if request == "start":
            return Outcome(True, effects=[START, STATUS], summary=summary)
        try:  # reset
            unit.set_mode(unit.initial_mode(), by=by)
        except TaskRefusedError as exc:
            return reject(str(exc), summary)
        return Outcome(True, effects=[START, REGISTER], summary=summary)
    if command == "mode_change":
        if "mode" not in grants:
            return reject("mode changes are not granted to this link", summary)
        try:
            unit.set_mode(task.command.mode_change.strip(), by=by)
        except TaskRefusedError as exc:
            return reject(str(exc), summary)
        return Outcome(True, effects=[STATUS], summary=summary)
    return reject(
        f"command {command} is not supported by this unit (supported: {_supported(grants)})",
        summary,
    )


def task_id_problem(task: Task) -> str | None:
    """Why a task cannot even be acknowledged (its id), or None."""
    if not task.task_id:
        return "task without a task_id: cannot acknowledge it"
    if not is_ulid(task.task_id):
        return f"task_id {task.task_id[:40]!r} is not an upper-case ULID: cannot acknowledge it"
    return None
