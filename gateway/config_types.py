"""Field types shared by the gateway's config sections."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo


def _resolve(path: Path, info: ValidationInfo) -> Path:
    # Relative paths mean "next to the config file", which is what a technician expects when
    # they copy a config directory around; without a file (tests, defaults) they stay as given.
    base = (info.context or {}).get("base_dir")
    path = path.expanduser()
    if base is not None and not path.is_absolute():
        return Path(base) / path
    return path


ConfigPath = Annotated[Path, AfterValidator(_resolve)]
"""A path in a config file; relative paths are taken from the config file's directory."""

TopicSafeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
"""A name that goes into MQTT topics: no '/', '+', '#' or spaces."""
