"""The configuration reference (docs/configuration.md), written from the schema itself.

Every section's fields, types, defaults and descriptions come from the pydantic models that
validate the config, so the reference cannot drift from what ``check-config`` accepts; a test
compares the committed file with this output. Regenerate with::

    python -m gateway.config_reference > docs/configuration.md
"""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gateway.config import GatewayConfig

INTRO = """\
# Configuration reference

The gateway reads one TOML file (`/etc/ugs-gateway/gateway.toml` on a field unit; an
annotated example is `systemd/config.example.toml`). Check it with
`ugs-gateway check-config FILE`: it exits 0, or 2 with one line per problem naming the field
path (`sensors[1].device_id: ...`). Unknown fields are errors (a typo must not be ignored).
Relative paths are taken from the config file's directory. Secrets (passwords, keys) live in
files named here, never inline, `root:ugs-gateway` mode `0640`: `check-config` refuses a
secret that the service cannot read or that other users can.

`systemctl reload ugs-gateway` (SIGHUP) applies changes to `[[sensors]]`, `[dsp]` (the
classifier model too), `[modes]` and `[health]`; `[node]`, `[outbox]`, `[[uplinks]]`,
`[record]` and `[signing]` take a restart.

This file is generated from the schema: `python -m gateway.config_reference`.
"""

SECTION_NOTES = {
    "sensors": "One `[[sensors]]` table per sensor. See docs/seismic-protocol.md and "
    "docs/registers.md for the devices, and prefer `/dev/serial/by-id/...` paths.",
    "uplinks": "One `[[uplinks]]` table per partner agency; see docs/uplinks.md.",
    "outbox": "The durable store of reports; see docs/outbox.md.",
    "dsp": "Thresholds and windows of the detector; the defaults work. See docs/dsp.md.",
    "record": "Field recording to miniSEED; see docs/recordings.md.",
    "signing": "The key the unit signs its reports with; see docs/signing.md.",
}


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a!r}`".replace("'", '"') for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(names) + (" (optional)" if type(None) in args else "")
    if origin in (list, tuple):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"list of {inner}" if origin is list else f"({inner})"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        if issubclass(annotation, Path):
            return "path"
        if issubclass(annotation, enum.Enum):
            return "one of " + ", ".join(str(m.value) for m in annotation)
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "" if isinstance(value, BaseModel) else f"`{value!r}`"
    value = field.default
    if value is None or value is PydanticUndefined:
        return ""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f'`"{value}"`'
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`"


def _sub_model(annotation: Any) -> type[BaseModel] | None:
    """The table model inside a field's type (``Model``, ``list[Model]``, ``Model | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _sub_model(arg)
        if found is not None:
            return found
    return None


def _sub_models(annotation: Any) -> list[type[BaseModel]]:
    """Every table model a field may hold: one, or one per tag of a discriminated union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += [m for m in _sub_models(arg) if m not in found]
    return found


def _tables(
    model: type[BaseModel],
    path: str,
    out: list[str],
    *,
    array: bool = False,
    variant: str = "",
    done: set[str] | None = None,
) -> None:
    done = set() if done is None else done
    rows = []
    nested = []
    for name, field in model.model_fields.items():
        sub = _sub_model(field.annotation)
        if sub is not None:
            nested.append((name, sub))
            continue
        description = (field.description or "").replace("|", "\\|")
        rows.append(
            f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {description} |"
        )
    if rows:
        title = f"### `[[{path}]]`" if array else f"### `[{path}]`"
        out.append(f"{title} {variant}".rstrip())
        doc = (model.__doc__ or "").strip().splitlines()
        if doc and not doc[0].startswith(model.__name__):
            out.append(doc[0])
        out.append("| field | type | default | meaning |\n|---|---|---|---|\n" + "\n".join(rows))
    for name, sub in nested:
        if f"{path}.{name}" not in done:
            done.add(f"{path}.{name}")
            keyed = typing.get_origin(model.model_fields[name].annotation) is dict
            _tables(sub, f"{path}.{name}{'.NAME' if keyed else ''}", out, done=done)


def reference() -> str:
    out = [INTRO.rstrip()]
    for name, field in GatewayConfig.model_fields.items():
        sub = _sub_model(field.annotation)
        if sub is None:
            continue
        out.append(f"## `{name}`")
        if name in SECTION_NOTES:
            out.append(SECTION_NOTES[name])
        array = typing.get_origin(field.annotation) is list
        variants = _sub_models(field.annotation)
        done: set[str] = set()
        for model in variants:
            key = "kind" if "kind" in model.model_fields else "protocol"
            tag = model.model_fields.get(key)
            kinds = typing.get_args(tag.annotation) if tag is not None else ()
            variant = f'with `{key} = "{kinds[0]}"`' if len(variants) > 1 and kinds else ""
            _tables(model, name, out, array=array, variant=variant, done=done)
    return "\n\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
