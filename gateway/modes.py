"""Modes: sensitivity profiles a partner may switch the unit between.

A mode is a name and a set of overrides of ``[dsp]``: the detector runs with ``[dsp]`` as
configured, with the mode's values laid over it. ``normal`` always exists (``[dsp]`` itself,
unless a profile of that name overrides something); the config adds others::

    [modes]
    initial = "normal"                # the mode at the first start and after a reset task

    [modes.profiles.sensitive]
    description = "quiet nights: more detections, more false alarms"
    dsp.seismic = { trigger_on = 2.4, impulse_on = 22.0 }
    dsp.classifier = { min_conf = 0.6 }

A mode set by a task (SAPIENT, or remote tasking over MQTT) lasts until the next one, also
across restarts: the current mode is kept in ``{node.state_dir}/mode``. A mode that a new
config no longer defines falls back to ``initial``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.durable import fsync_dir
from dsp.config import DspConfig

log = logging.getLogger(__name__)

NORMAL = "normal"
STATE_FILE = "mode"

ModeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class ModeProfile(BaseModel):
    """One ``[modes.profiles.NAME]`` table."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    description: str = Field(default="", max_length=200, description="shown to partners")
    dsp: dict[str, Any] = Field(
        default_factory=dict,
        description="overrides of [dsp]: the same tables and fields, e.g. "
        "dsp.seismic = { trigger_on = 2.4 }",
    )


class ModesConfig(BaseModel):
    """``[modes]``: the sensitivity profiles tasks may switch between."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    initial: ModeName = Field(
        default=NORMAL, description="mode at the first start and after a reset task"
    )
    profiles: dict[ModeName, ModeProfile] = Field(
        default_factory=dict, description="mode name -> its overrides of [dsp]"
    )

    @model_validator(mode="after")
    def _check(self) -> ModesConfig:
        if self.initial not in self.names():
            raise ValueError(
                f"initial: {self.initial!r} is not a mode (defined: {', '.join(self.names())})"
            )
        return self

    def names(self) -> list[str]:
        """Every mode, ``normal`` first."""
        return [NORMAL, *(name for name in self.profiles if name != NORMAL)]

    def description(self, name: str) -> str:
        profile = self.profiles.get(name)
        if profile is not None and profile.description:
            return profile.description
        return "the detector as configured in [dsp]" if name == NORMAL else name


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def mode_dsp(base: DspConfig, modes: ModesConfig, name: str) -> DspConfig:
    """``[dsp]`` with mode ``name``'s overrides laid over it (``ValueError`` if it has none)."""
    if name not in modes.names():
        raise ValueError(f"{name!r} is not a mode (defined: {', '.join(modes.names())})")
    profile = modes.profiles.get(name)
    if profile is None or not profile.dsp:
        return base
    return DspConfig.model_validate(_merge(base.model_dump(), profile.dsp))


def check_profiles(base: DspConfig, modes: ModesConfig) -> list[str]:
    """One line per problem of the profiles' overrides, with its full field path."""
    lines = []
    for name in modes.profiles:
        try:
            mode_dsp(base, modes, name)
        except ValidationError as exc:
            for err in exc.errors():
                path = ".".join(str(p) for p in err["loc"])
                message = str(err["msg"]).removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    message = "unknown field (misspelt?)"
                lines.append(f"modes.profiles.{name}.dsp.{path}: {message}")
    return lines


def load_mode(state_dir: Path, modes: ModesConfig) -> str:
    """The mode to start in: the one last set, if the config still defines it."""
    try:
        saved = (Path(state_dir) / STATE_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return modes.initial
    if saved and saved not in modes.names():
        log.warning(
            "mode %r (set before this start) is no longer defined; starting in %r",
            saved,
            modes.initial,
        )
        return modes.initial
    return saved or modes.initial


def save_mode(state_dir: Path, name: str) -> None:
    """Remember the current mode (durably: a restart keeps a partner's choice)."""
    path = Path(state_dir) / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.write(name + "\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.error("could not remember mode %r in %s: %s", name, path, exc.strerror or exc)
