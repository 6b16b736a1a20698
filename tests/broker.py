"""A real mosquitto broker for tests, plus the TLS material and password files it needs.

Usage (the fixtures in ``tests/conftest.py`` wrap this)::

    from tests.broker import Broker, make_tls_material

    tls = make_tls_material(tmp_path / "pki")          # CA, server (SAN 127.0.0.1), client
    with Broker(tmp_path / "broker", tls=tls, require_certificate=True,
                users={"ugs": "s3cret"}) as broker:
        # acl="..." installs that text as mosquitto's acl_file
        broker.port        # plain listener on 127.0.0.1 (None when plain=False)
        broker.tls_port    # TLS listener (None without tls=)
        broker.kill()      # SIGKILL: sockets reset, only the last autosave survives
        broker.start()     # again, same ports, same persistence directory
        broker.pause(); broker.resume()   # SIGSTOP / SIGCONT: a half-open link
        broker.restart()   # clean stop (saves persistence) then start
        broker.log()       # mosquitto's own log, for assertion messages

Facts it relies on (see FACTS.md): ``mosquitto -c CONF`` runs in the foreground and is ready in
~20 ms; run as root it would drop to user ``mosquitto`` and could not write into a 0700 temp
dir, hence ``user root``. Persistence is a periodic snapshot in mosquitto 2.0 (no log of each
message), so ``autosave_interval`` defaults to 1 s here: a SIGKILL loses at most the last
second of broker-side state (queued messages for offline subscribers, new subscriptions).

Readiness is checked by connecting to every listener, never by sleeping. Every process is
ended in :meth:`Broker.close` (also on ``__exit__``), even after ``pause()``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from gateway.errors import UgsError
from gateway.local_broker import HOST, free_port, start_mosquitto, stop_process

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def have_mosquitto() -> bool:
    return os.access(MOSQUITTO, os.X_OK)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files made by :func:`make_tls_material`."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed: {proc.stderr.strip()}")


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _issue(directory: Path, name: str, cn: str, ext: str, ca: tuple[Path, Path]) -> None:
    (directory / f"{name}.ext").write_text(ext)
    _openssl("req", "-new", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={cn}", cwd=directory)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", ca[0], "-CAkey", ca[1],
             "-CAcreateserial", "-days", "3", "-out", f"{name}.pem",
             "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip


def make_tls_material(directory: Path, *, name: str = "test") -> TlsFiles:
    """A fresh CA, a server certificate for 127.0.0.1/localhost and a client certificate.

    Keys are EC P-256 (fast to make: well under a second for all three). The extensions are
    those a strict verifier wants (CA basic constraints, key usage, key identifiers), so the
    material also passes ``VERIFY_X509_STRICT``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", *_EC, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3",
             "-subj", f"/CN={name} test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=directory)  # fmt: skip
    ca = (directory / "ca.pem", directory / "ca.key")
    common = (
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    _issue(directory, "server", "127.0.0.1",
           common + "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
           ca)  # fmt: skip
    _issue(directory, "client", f"{name}-client", common + "extendedKeyUsage=clientAuth\n", ca)
    return TlsFiles(
        ca_cert=ca[0],
        ca_key=ca[1],
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )


def make_password_file(path: Path, users: Mapping[str, str]) -> Path:
    """A mosquitto password file (hashed) for ``users`` (name -> password)."""
    path.unlink(missing_ok=True)
    for index, (user, password) in enumerate(users.items()):
        create = ["-c"] if index == 0 else []
        subprocess.run(
            [MOSQUITTO_PASSWD, *create, "-b", str(path), user, password],
            check=True,
            capture_output=True,
        )
    return path


class Broker:
    """One mosquitto process with a plain and/or a TLS listener on loopback.

    Ports are chosen once and kept across :meth:`kill`/:meth:`start`, so clients redial the
    same address; the persistence directory is kept too, so sessions and queued messages
    survive a restart as far as mosquitto itself keeps them.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        plain: bool = True,
        tls: TlsFiles | None = None,
        require_certificate: bool = False,
        users: Mapping[str, str] | None = None,
        persistence: bool = True,
        autosave_interval: int = 1,
        max_inflight: int = 0,
        max_queued: int = 0,
        acl: str | None = None,
    ) -> None:
        if not plain and tls is None:
            raise ValueError("a broker needs a plain or a TLS listener")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port: int | None = free_port() if plain else None
        self.tls_port: int | None = free_port() if tls is not None else None
        self.tls = tls
        self.users = dict(users or {})
        self.conf_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.persist_dir = self.workdir / "persist"
        self.persist_dir.mkdir(exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        lines = [
            "user root",
            "per_listener_settings false",
            f"allow_anonymous {'false' if self.users else 'true'}",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.persist_dir}/",
            f"autosave_interval {autosave_interval}",
            # 0 = unlimited: a subscriber that was away gets its whole backlog.
            f"max_queued_messages {max_queued}",
            f"max_inflight_messages {max_inflight}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if self.users:
            passwd = make_password_file(self.workdir / "passwd", self.users)
            lines.append(f"password_file {passwd}")
        if acl is not None:
            acl_path = self.workdir / "acl"
            acl_path.write_text(acl)
            lines.append(f"acl_file {acl_path}")
        if self.port is not None:
            lines.append(f"listener {self.port} {HOST}")
        if tls is not None:
            lines += [
                f"listener {self.tls_port} {HOST}",
                f"cafile {tls.ca_cert}",
                f"certfile {tls.server_cert}",
                f"keyfile {tls.server_key}",
                f"require_certificate {'true' if require_certificate else 'false'}",
            ]
        self.conf_path.write_text("\n".join(lines) + "\n")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Broker:
        """Start mosquitto and return once every listener accepts connections."""
        if self.running:
            raise RuntimeError("broker already running")
        ports = [p for p in (self.port, self.tls_port) if p is not None]
        self._paused = False
        try:
            self.proc = start_mosquitto(
                self.conf_path, ports, binary=MOSQUITTO, timeout=timeout, log_path=self.log_path
            )
        except UgsError as exc:
            raise RuntimeError(f"mosquitto did not start: {exc}") from None
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Clean shutdown (SIGTERM): mosquitto saves its persistence file on the way out."""
        if not self.running:
            return
        assert self.proc is not None
        if self._paused:
            self.resume()
        stop_process(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, no final persistence save."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.wait()
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: sockets stay open but nothing is answered (a half-open link)."""
        assert self.running and self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        if self.proc is not None and self._paused:
            self.proc.send_signal(signal.SIGCONT)
            self._paused = False

    def restart(self, timeout: float = 10.0) -> Broker:
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """End the process whatever its state; safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Broker:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the plain listener (or the TLS one without a plain listener)."""
        return f"{self.host}:{self.port if self.port is not None else self.tls_port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __repr__(self) -> str:
        return f"Broker(port={self.port}, tls_port={self.tls_port}, running={self.running})"
