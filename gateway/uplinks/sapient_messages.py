"""What the unit says in SAPIENT (BSI Flex 335 v2.0), built from its reports and health.

docs/sapient.md lists every message and field made here; a test holds the two together.

- :func:`registration`: the node definition (sensor kinds as node types), the status
  definition (interval, what the status reports), one mode definition per mode with the
  detection definition (classes mapped onto SAPIENT's taxonomy, the object information sent)
  and the tasks accepted.
- :func:`status_report`: system OK / WARNING (degraded, clock not synchronised) / ERROR (no
  sensor delivering) / GOODBYE, the mode, the unit's location, one status entry per problem.
- :func:`detection_report`: one per v1 report; ``report_id`` and ``object_id`` are ULIDs
  derived from the report's id, so a report sent again is recognisably the same.
- :func:`alert`, :func:`task_ack`, :func:`error`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sapient_msg.bsi_flex_335_v2_0 import (
    alert_pb2,
    detection_report_pb2,
    location_pb2,
    range_bearing_pb2,
    registration_pb2,
    status_report_pb2,
    task_ack_pb2,
)
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from gateway import __version__
from gateway.detection_report import parse_time
from gateway.uplinks.sapient_codec import ICD_VERSION, derived_ulid, new_ulid, timestamp

if TYPE_CHECKING:
    from gateway.uplinks import Unit
    from gateway.uplinks.sapient_config import SapientUplinkConfig

Reg = registration_pb2.Registration
Status = status_report_pb2.StatusReport
Detection = detection_report_pb2.DetectionReport
Alert = alert_pb2.Alert
TaskAck = task_ack_pb2.TaskAck

TAXONOMY = {"footstep": "Human", "vehicle": "Land Vehicle", "unknown": "Unknown"}
"""The unit's classes on SAPIENT's taxonomy (level 0); a class added later goes as Unknown."""

NODE_TYPES: dict[str, tuple[int, str]] = {
    "seismic": (Reg.NODE_TYPE_SEISMIC, "geophone"),
    "pir": (Reg.NODE_TYPE_PROXIMITY_SENSOR, "passive infrared"),
    "magnetometer": (Reg.NODE_TYPE_PROXIMITY_SENSOR, "magnetometer"),
}
"""Sensor kind -> SAPIENT node type and sub-type; another kind is NODE_TYPE_OTHER."""

OBJECT_INFO = (
    ("event_start", "ISO 8601 UTC time the event began"),
    ("event_end", "ISO 8601 UTC time the event ended"),
    ("report", "the unit's own report id (node-boot-seq), as on its MQTT links"),
    ("sensors", "comma-separated names of the sensors that detected it"),
    ("mode", "the mode the unit was in when it detected it"),
    ("clock", "'unsynced' when the unit's clock was not synchronised at the event"),
)
"""Object information sent in each detection report (declared in the registration)."""

REQUESTS = ("Registration", "Status", "Reset", "Stop", "Start")
"""``command.request`` values the unit accepts (case does not matter)."""

METRES_PER_DEG_LAT = 111_320.0


def envelope(node_id: str, now: float) -> SapientMessage:
    message = SapientMessage()
    message.timestamp.CopyFrom(timestamp(now))
    message.node_id = node_id
    return message


def _seconds(duration: Reg.Duration, value: float) -> None:
    duration.units = Reg.TIME_UNITS_SECONDS
    duration.value = value


def _lat_lng(location_type: Reg.LocationType) -> None:
    location_type.location_units = location_pb2.LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M
    location_type.location_datum = location_pb2.LOCATION_DATUM_WGS84_E


def _range_bearing(location_type: Reg.LocationType) -> None:
    location_type.range_bearing_units = range_bearing_pb2.RANGE_BEARING_COORDINATE_SYSTEM_DEGREES_M
    location_type.range_bearing_datum = range_bearing_pb2.RANGE_BEARING_DATUM_TRUE


def reports_location(unit: Unit, config: SapientUplinkConfig) -> bool:
    """Whether this link gets positions as the unit's location (else as a range from it):
    only when its share lets the report's ``loc`` through (``share.fields``, ``redact``)."""
    return unit.location is not None and "loc" in config.share.allowed


def registration(unit: Unit, config: SapientUplinkConfig, now: float) -> SapientMessage:
    message = envelope(unit.sapient_id, now)
    reg = message.registration
    by_type: dict[int, list[str]] = {}
    for _name, kind in unit.sensors:
        node_type, sub = NODE_TYPES.get(kind, (Reg.NODE_TYPE_OTHER, kind))
        subs = by_type.setdefault(node_type, [])
        if sub not in subs:
            subs.append(sub)
    for node_type, subs in by_type.items():
        definition = reg.node_definition.add()
        definition.node_type = node_type  # type: ignore[assignment]  # an int of NodeType
        definition.node_sub_type.extend(subs)
    reg.icd_version = ICD_VERSION
    reg.name = f"ugs-gateway unattended ground sensor {unit.node} ({unit.site})"
    reg.short_name = unit.node
    for name, kind in unit.sensors:
        capability = reg.capabilities.add()
        capability.category = "sensor"
        capability.type = kind
        capability.value = name
    status = reg.status_definition
    _seconds(status.status_interval, config.status_interval_s)
    if reports_location(unit, config):
        _lat_lng(status.location_definition)
    for category, kind, units in (
        (Reg.STATUS_REPORT_CATEGORY_SENSOR, "sensor", "fault or recovery of each sensor"),
        (Reg.STATUS_REPORT_CATEGORY_STATUS, "clock", "unsynchronised when not set by NTP/GNSS"),
        (Reg.STATUS_REPORT_CATEGORY_STATUS, "outbox", "reports waiting to be sent"),
        (Reg.STATUS_REPORT_CATEGORY_MODE, "mode", ", ".join(unit.modes())),
    ):
        entry = status.status_report.add()
        entry.category = category
        entry.type = kind
        entry.units = units
        entry.on_change = True
    for mode in unit.modes():
        _mode_definition(reg.mode_definition.add(), mode, unit, config)
    config_data = reg.config_data.add()
    config_data.manufacturer = "ugs-gateway project"
    config_data.model = "ugs-gateway"
    config_data.software_version = __version__
    return message


def _mode_definition(
    mode: Reg.ModeDefinition, name: str, unit: Unit, config: SapientUplinkConfig
) -> None:
    mode.mode_name = name
    mode.mode_type = (
        Reg.MODE_TYPE_DEFAULT if name == unit.initial_mode() else Reg.MODE_TYPE_PERMANENT
    )
    mode.mode_description = unit.mode_description(name)
    _seconds(mode.settle_time, 0.0)
    _seconds(mode.maximum_latency, 10.0)
    mode.scan_type = Reg.SCAN_TYPE_FIXED
    mode.tracking_type = Reg.TRACKING_TYPE_NONE
    detection = mode.detection_definition.add()
    if reports_location(unit, config):
        _lat_lng(detection.location_type)
    else:
        _range_bearing(detection.location_type)
    for kind, units in OBJECT_INFO:
        info = detection.detection_report.add()
        info.category = Reg.DETECTION_REPORT_CATEGORY_OBJECT
        info.type = kind
        info.units = units
    classes = detection.detection_class_definition.add()
    classes.confidence_definition = Reg.CONFIDENCE_DEFINITION_SINGLE_CLASS
    for sapient_class in dict.fromkeys(TAXONOMY.values()):
        definition = classes.class_definition.add()
        definition.type = sapient_class
        definition.units = "probability 0-1"
    task = mode.task
    task.concurrent_tasks = 1
    region = task.region_definition
    region.region_type.append(Reg.REGION_TYPE_AREA_OF_INTEREST)
    _lat_lng(region.region_area.add())
    if any(t in config.tasking for t in ("registration", "status", "reset", "stop", "start")):
        request = task.command.add()
        request.units = ", ".join(r for r in REQUESTS if r.lower() in config.tasking)
        _seconds(request.completion_time, 1.0)
        request.type = Reg.COMMAND_TYPE_REQUEST
    if "mode" in config.tasking:
        change = task.command.add()
        change.units = ", ".join(unit.modes())
        _seconds(change.completion_time, 1.0)
        change.type = Reg.COMMAND_TYPE_MODE_CHANGE


def _node_location(target: location_pb2.Location, loc: Mapping[str, float]) -> None:
    target.x = float(loc["lon"])
    target.y = float(loc["lat"])
    if "alt_m" in loc:
        target.z = float(loc["alt_m"])
    target.coordinate_system = location_pb2.LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M
    target.datum = location_pb2.LOCATION_DATUM_WGS84_E


def status_report(
    unit: Unit,
    config: SapientUplinkConfig,
    health: Mapping[str, Any] | None,
    *,
    now: float,
    new: bool,
    goodbye: bool = False,
    clock_synced: bool,
    reporting: bool = True,
) -> SapientMessage:
    """A status report; ``health`` is this partner's share of the service's latest status
    (:func:`gateway.health.status.partner_status`; None before the first)."""
    message = envelope(unit.sapient_id, now)
    status = message.status_report
    status.report_id = new_ulid(now)
    status.info = Status.INFO_NEW if new else Status.INFO_UNCHANGED
    status.mode = unit.mode
    if reports_location(unit, config) and unit.location is not None:
        _node_location(status.node_location, unit.location)
    problems = dict((health or {}).get("problems") or {})
    sensors = (health or {}).get("sensors") or {}
    delivering = [s for s in sensors.values() if isinstance(s, dict) and s.get("state") == "ok"]
    for where, why in sorted(problems.items()):
        if where.startswith("uplink "):
            continue  # another partner's link: not this fusion node's business
        entry = status.status.add()
        entry.status_level = Status.STATUS_LEVEL_WARNING_STATUS
        entry.status_type = (
            Status.STATUS_TYPE_INTERNAL_FAULT
            if where.startswith("sensor ")
            else Status.STATUS_TYPE_OTHER
        )
        entry.status_value = f"{where}: {why}"
    if not clock_synced:
        entry = status.status.add()
        entry.status_level = Status.STATUS_LEVEL_WARNING_STATUS
        entry.status_type = Status.STATUS_TYPE_OTHER
        entry.status_value = "clock not synchronised: message and event times may be wrong"
    if not reporting:
        entry = status.status.add()
        entry.status_level = Status.STATUS_LEVEL_INFORMATION_STATUS
        entry.status_type = Status.STATUS_TYPE_NOT_DETECTING
        entry.status_value = "detection reports stopped by a task (Start resumes them)"
    # This link's own queue (the partner's share of the status has no other).
    own = ((health or {}).get("outbox") or {}).get("uplink") or {}
    if own.get("pending"):
        entry = status.status.add()
        entry.status_level = Status.STATUS_LEVEL_INFORMATION_STATUS
        entry.status_type = Status.STATUS_TYPE_OTHER
        entry.status_value = f"outbox: {own['pending']} reports waiting"
    if goodbye:
        status.system = Status.SYSTEM_GOODBYE
    elif sensors and not delivering and health is not None:
        status.system = Status.SYSTEM_ERROR
    elif not clock_synced or any(not w.startswith("uplink ") for w in problems):
        status.system = Status.SYSTEM_WARNING
    else:
        status.system = Status.SYSTEM_OK
    return message


def detection_report(
    report: Mapping[str, Any],
    unit: Unit,
    config: SapientUplinkConfig,
    *,
    now: float,
    mode: str | None,
) -> SapientMessage:
    """The detection report of one v1 report, as this partner's share gives it
    (:meth:`gateway.uplinks.share.ShareFilter.apply`: only the fields it may receive)."""
    message = envelope(unit.sapient_id, now)
    detection = message.detection_report
    t0 = parse_time(report["t0"])
    detection.report_id = derived_ulid(f"{report['id']}/report", t0)
    detection.object_id = derived_ulid(f"{report['id']}/object", t0)
    radius = config.range_m(str(report["class"]))
    loc = report.get("loc")
    if isinstance(loc, Mapping) and reports_location(unit, config):
        position = detection.location
        _node_location(position, loc)
        position.y_error = radius / METRES_PER_DEG_LAT
        scale = max(0.01, math.cos(math.radians(float(loc["lat"]))))
        position.x_error = radius / (METRES_PER_DEG_LAT * scale)
    else:
        bearing = detection.range_bearing
        bearing.range = 0.0
        bearing.range_error = radius
        bearing.coordinate_system = range_bearing_pb2.RANGE_BEARING_COORDINATE_SYSTEM_DEGREES_M
        bearing.datum = range_bearing_pb2.RANGE_BEARING_DATUM_TRUE
    conf = float(report["conf"])
    detection.detection_confidence = conf
    classification = detection.classification.add()
    classification.type = TAXONOMY.get(str(report["class"]), "Unknown")
    classification.confidence = conf
    info = {
        "event_start": report["t0"],
        "event_end": report["t1"],
        "report": report["id"],
        "sensors": ",".join(report.get("sensors", [])),
    }
    if mode is not None:
        info["mode"] = mode
    if report.get("clock"):
        info["clock"] = str(report["clock"])
    if report.get("model"):
        info["model"] = str(report["model"])
    for kind, value in info.items():
        entry = detection.object_info.add()
        entry.type = kind
        entry.value = str(value)
    return message


def alert(
    unit: Unit, *, now: float, sensor: str, failed: bool, why: str, location: bool
) -> SapientMessage:
    message = envelope(unit.sapient_id, now)
    body = message.alert
    body.alert_id = new_ulid(now)
    body.alert_type = Alert.ALERT_TYPE_WARNING if failed else Alert.ALERT_TYPE_INFORMATION
    body.status = Alert.ALERT_STATUS_ACTIVE if failed else Alert.ALERT_STATUS_CLEAR
    body.description = f"sensor {sensor} {'failed' if failed else 'recovered'}: {why}"
    body.priority = Alert.DISCRETE_PRIORITY_MEDIUM if failed else Alert.DISCRETE_PRIORITY_LOW
    if location and unit.location is not None:
        _node_location(body.location, unit.location)
    return message


def task_ack(
    unit: Unit, *, now: float, task_id: str, accepted: bool, reasons: Iterable[str] = ()
) -> SapientMessage:
    message = envelope(unit.sapient_id, now)
    ack = message.task_ack
    ack.task_id = task_id
    ack.task_status = TaskAck.TASK_STATUS_ACCEPTED if accepted else TaskAck.TASK_STATUS_REJECTED
    ack.reason.extend(reasons)
    return message


def error(unit: Unit, *, now: float, packet: bytes, problems: Iterable[str]) -> SapientMessage:
    message = envelope(unit.sapient_id, now)
    message.error.packet = packet[:1024]
    message.error.error_message.extend(problems)
    return message
