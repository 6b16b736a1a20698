"""Signed reports: each unit signs what it sends with its own Ed25519 key.

Without a signature, anyone who may publish on a partner's broker can forge reports, or
publish a report with the next ``id`` before the unit does, so that the real one is dropped
as a duplicate. With one, a receiver holding the unit's public key accepts only what the
unit sent, on the topic the unit sent it to (docs/signing.md).

What is signed: ``DOMAIN + topic + b"\\0" + body``, where ``body`` is the payload exactly as
it would go unsigned (a partner's share of the report, encoded). The topic names the site,
the node and the partner's prefix, so a signed report moved to another topic, another
node's or another partner's, no longer verifies.

How the signature travels:

- JSON: as the last member, ``,"sig":"<86 characters of base64url>"`` spliced in before the
  closing brace. A receiver cuts that suffix off to get ``body`` back byte for byte (no
  re-serialising); JSON readers that do not verify see one more field.
- compact: the magic byte becomes ``0xC2`` and the 64 signature bytes follow the report
  (``0xC1`` body otherwise unchanged): 95-112 bytes instead of 31-48.

Keys: the private key is a PEM (PKCS#8) file made by ``ugs-gateway key generate`` (at
install), ``root:ugs-gateway 0640``; the public half is one line,
``ugs-ed25519 <node> <base64 of the 32 key bytes>``, printed by ``ugs-gateway key public``
and read by ``ugs-gateway subscribe --verify-key``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from gateway.config_types import ConfigPath
from gateway.errors import ConfigError, ProtocolError

DOMAIN = b"ugs-report-sig-v1\0"
SIGNATURE_BYTES = 64
COMPACT = 0xC1
COMPACT_SIGNED = 0xC2
PUBLIC_PREFIX = "ugs-ed25519"
_JSON_SIG = re.compile(rb',"sig":"([A-Za-z0-9_-]{86})"}\Z')
_NODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class SignatureError(ProtocolError):
    """A report that should be signed is not, or its signature does not verify."""


class SigningConfig(BaseModel):
    """The unit's report signing key (Ed25519)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    key_file: ConfigPath | None = Field(
        default=None,
        description="the unit's Ed25519 key (PEM, from `ugs-gateway key generate`); reports "
        "are signed when set (see docs/signing.md)",
    )


def _signed_bytes(topic: str, body: bytes) -> bytes:
    return DOMAIN + topic.encode("utf-8") + b"\0" + body


def generate_key() -> bytes:
    """A new private key as PEM (PKCS#8, unencrypted: the unit starts unattended)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_line(key: Ed25519PublicKey, node: str) -> str:
    """The line a partner adds to its ``--verify-key`` file for this unit."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{PUBLIC_PREFIX} {node} {base64.b64encode(raw).decode()}"


class Signer:
    """Signs payloads with the unit's private key (thread-safe: the key is immutable)."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"signing.key_file: cannot read {path}: {exc.strerror or exc} "
                "(make it root:ugs-gateway 0640)"
            ) from None
        return cls.from_pem(data, str(path))

    @classmethod
    def from_pem(cls, data: bytes, source: str = "the key") -> Signer:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"signing.key_file: {source} is not an unencrypted PEM private key ({exc}); "
                "make one with `ugs-gateway key generate`"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"signing.key_file: {source} is not an Ed25519 key")
        return cls(key)

    def signature(self, topic: str, body: bytes) -> bytes:
        return self._key.sign(_signed_bytes(topic, body))

    def sign(self, topic: str, payload: bytes) -> bytes:
        """The signed form of an unsigned JSON or compact payload published on ``topic``."""
        signature = self.signature(topic, payload)
        if payload[:1] == bytes((COMPACT,)):
            return bytes((COMPACT_SIGNED,)) + payload[1:] + signature
        if not payload.endswith(b"}"):
            raise ValueError("not a JSON object or compact report payload")
        encoded = base64.urlsafe_b64encode(signature).rstrip(b"=")
        return payload[:-1] + b',"sig":"' + encoded + b'"}'


def split(payload: bytes) -> tuple[bytes, bytes | None]:
    """(the unsigned payload, the signature or None) of a received payload; never raises."""
    if payload[:1] == bytes((COMPACT_SIGNED,)):
        if len(payload) <= SIGNATURE_BYTES + 1:
            return payload, None  # too short: the decoder says why
        return bytes((COMPACT,)) + payload[1:-SIGNATURE_BYTES], payload[-SIGNATURE_BYTES:]
    match = _JSON_SIG.search(payload, max(0, len(payload) - 100))
    if match is None:
        return payload, None
    cut = match.start()
    try:
        signature = base64.urlsafe_b64decode(match.group(1) + b"==")
    except (binascii.Error, ValueError):
        return payload, None
    return payload[:cut] + b"}", signature


class Verifier:
    """The public keys of the units a receiver trusts, by node id."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.keys = dict(keys)

    @classmethod
    def from_lines(cls, lines: Iterable[str], source: str = "key file") -> Verifier:
        """Keys from ``ugs-ed25519 NODE BASE64`` lines (blank lines and ``#`` comments
        ignored); raises :class:`ConfigError` naming the line that is wrong."""
        keys: dict[str, Ed25519PublicKey] = {}
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split()
            try:
                if len(parts) != 3 or parts[0] != PUBLIC_PREFIX or not _NODE.match(parts[1]):
                    raise ValueError(f"expected '{PUBLIC_PREFIX} NODE KEY'")
                raw = base64.b64decode(parts[2], validate=True)
                keys[parts[1]] = Ed25519PublicKey.from_public_bytes(raw)
            except (ValueError, binascii.Error) as exc:
                raise ConfigError(f"{source} line {number}: {exc}") from None
        return cls(keys)

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> Verifier:
        keys: dict[str, Ed25519PublicKey] = {}
        for path in paths:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: cannot read the key file ({exc})") from None
            keys.update(cls.from_lines(text.splitlines(), str(path)).keys)
        return cls(keys)

    def verify(self, node: str, topic: str, body: bytes, signature: bytes | None) -> None:
        """Raise :class:`SignatureError` unless ``signature`` is ``node``'s over ``body``
        published on ``topic``."""
        key = self.keys.get(node)
        if key is None:
            raise SignatureError(f"no key for node {node!r}: its reports are not accepted")
        if signature is None:
            raise SignatureError(f"report of {node} is not signed")
        try:
            key.verify(signature, _signed_bytes(topic, body))
        except InvalidSignature:
            raise SignatureError(
                f"report of {node} on {topic} does not verify (forged, altered, or moved "
                "from another topic)"
            ) from None
