"""Shared helpers for the outbox tests: detection fields and an outbox factory."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gateway.detection_report import detection_fields
from gateway.outbox.config import OutboxConfig
from gateway.outbox.store import Outbox

NODE = "ugs-0007"
SITE = "sector-12"


def fields(
    cls: str = "footstep", conf: float = 0.93, *, t0: float | None = None, **extra: Any
) -> dict[str, Any]:
    start = time.time() if t0 is None else t0
    out = detection_fields(
        cls,
        conf,
        start,
        start + 6.5,
        ["geo1", "pir1"],
        features={"cadence_hz": 1.8, "peak": 2.1e-3},
        loc={"lat": 49.0, "lon": -122.7},
    )
    out.update(extra)
    return out


def everything(report: dict[str, Any]) -> bool:
    return True


def vehicles_only(report: dict[str, Any]) -> bool:
    return bool(report["class"] == "vehicle")


def open_outbox(
    path: Path,
    *,
    boot: int = 1,
    uplinks: Mapping[str, Callable[[dict[str, Any]], bool]] | None = None,
    **config: Any,
) -> Outbox:
    # No 8 MiB ballast per test outbox unless a test asks (pytest keeps old tmp dirs).
    config.setdefault("ballast_bytes", 0)
    return Outbox(
        path,
        OutboxConfig(**config),
        node=NODE,
        site=SITE,
        boot=boot,
        uplinks={"a": everything} if uplinks is None else uplinks,
    )
