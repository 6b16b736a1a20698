"""Strict validation of SAPIENT messages, as a fusion node applies it.

The rules come from the official ``.proto`` files themselves: Dstl annotated every field with
``(field_options)`` (``is_mandatory``, ``is_uuid``, ``is_ulid``) and every ``oneof`` with
``(oneof_options)``; :func:`problems` walks a message with its descriptors and reads them, so
a rule of the ICD is checked wherever the field appears. On top of that:

- no unknown fields anywhere (a newer or foreign sender's extra bytes);
- no enum value the definitions do not name, and no ``*_UNSPECIFIED`` (0) in a mandatory enum;
- the message's ``timestamp`` within :data:`EARLY_S` before / :data:`LATE_S` after the
  receiver's clock (Dstl's middleware accepts -0.9 s / +0.1 s);
- a registration declares ``icd_version`` :data:`~gateway.uplinks.sapient_codec.ICD_VERSION`.

``ugs-gateway sapient-node`` reports every problem of every message it receives; the tests
hold the unit to an empty list.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet
from sapient_msg import proto_options_pb2
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from gateway.uplinks.sapient_codec import ICD_VERSION, epoch_of, is_node_id, is_ulid

EARLY_S = 0.9
"""A message may be this much older than the receiver's clock ..."""
LATE_S = 0.1
"""... and this much newer."""

_FIELD_OPTIONS: Any = proto_options_pb2.field_options
_ONEOF_OPTIONS: Any = proto_options_pb2.oneof_options
_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_ENUM = FieldDescriptor.TYPE_ENUM


def _options(field: FieldDescriptor) -> Any:
    opts = field.GetOptions()
    return opts.Extensions[_FIELD_OPTIONS] if opts.HasExtension(_FIELD_OPTIONS) else None


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _present(message: Message, field: FieldDescriptor) -> bool:
    if _is_repeated(field):
        return len(getattr(message, field.name)) > 0
    if field.has_presence:
        if not message.HasField(field.name):
            return False
        if field.type == _ENUM:
            return int(getattr(message, field.name)) != 0
        return True
    # proto3 fields without presence: set means "not the default value".
    return bool(getattr(message, field.name))


def _walk(message: Message, path: str, out: list[str]) -> None:
    descriptor: Any = message.DESCRIPTOR
    unknown = UnknownFieldSet(message)
    if len(unknown):
        numbers = sorted({unknown[i].field_number for i in range(len(unknown))})
        out.append(f"{path or descriptor.name}: unknown field number(s) {numbers}")
    for oneof in descriptor.oneofs:
        opts = oneof.GetOptions()
        mandatory = (
            opts.HasExtension(_ONEOF_OPTIONS) and opts.Extensions[_ONEOF_OPTIONS].is_mandatory
        )
        if mandatory and message.WhichOneof(oneof.name) is None:
            out.append(f"{_join(path, oneof.name)}: mandatory, none of its fields is set")
    for field in descriptor.fields:
        where = _join(path, field.name)
        opts = _options(field)
        if opts is not None and opts.is_mandatory and not _present(message, field):
            out.append(f"{where}: mandatory field missing")
        values = _values(message, field)
        for index, value in enumerate(values):
            at = f"{where}[{index}]" if _is_repeated(field) else where
            if field.type == _MESSAGE:
                _walk(value, at, out)
            elif field.type == _ENUM:
                enum = field.enum_type
                if enum is not None and enum.values_by_number.get(int(value)) is None:
                    out.append(f"{at}: {int(value)} is not a value of {enum.name}")
            elif opts is not None and isinstance(value, str) and value:
                if opts.is_ulid and not is_ulid(value):
                    out.append(f"{at}: {value!r} is not an upper-case ULID")
                if opts.is_uuid and not is_node_id(value):
                    out.append(f"{at}: {value!r} is not a lower-case UUID v4")


def _values(message: Message, field: FieldDescriptor) -> list[Any]:
    if _is_repeated(field):
        return list(getattr(message, field.name))
    if field.has_presence and not message.HasField(field.name):
        return []
    return [getattr(message, field.name)]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def problems(message: SapientMessage, now: float | None = None) -> list[str]:
    """Every rule ``message`` breaks (empty when it is valid); ``now`` (epoch s) enables the
    timestamp window check."""
    out: list[str] = []
    _walk(message, "", out)
    if now is not None and message.HasField("timestamp"):
        skew = epoch_of(message.timestamp) - now
        if not -EARLY_S <= skew <= LATE_S:
            out.append(
                f"timestamp: {skew:+.3f} s from the receiver's clock "
                f"(accepted: -{EARLY_S} s .. +{LATE_S} s)"
            )
    if message.WhichOneof("content") == "registration":
        version = message.registration.icd_version
        if version and version != ICD_VERSION:
            out.append(f"registration.icd_version: {version!r}, expected {ICD_VERSION!r}")
    return out
