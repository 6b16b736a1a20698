"""install.sh as root, for real, in a throwaway root: users, chown, setpriv, the warm-up as
the service user, and what a compromised service can plant for the next upgrade.

The throwaway root is a chroot inside a private mount namespace (``unshare -m``): the host's
``/usr``, the Python installation and this checkout (with its venv) bound read-only, a copy
of ``/etc`` (so ``useradd`` edits a copy), everything else empty. Nothing of it outlives the
namespace. systemd is not PID 1 here, so ``systemctl`` alone is a stand-in that records its
calls (the unit file itself is checked by test_unit.py). Needs root and mount namespaces
(``unshare -m``); skipped where either is missing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
BASE_PYTHON = Path(sys.base_prefix)
CONFIG = (
    '[node]\nid = "ugs-0001"\nsite = "test-site"\n'
    '[[sensors]]\nname = "geo1"\nkind = "seismic"\ntransport = "serial"\n'
    'port = "/dev/ttyUSB0"\nsample_rate = 500\n'
    '[signing]\nkey_file = "/etc/ugs-gateway/signing.key"\n'
)
# Bound read-only from the host at the same paths inside the throwaway root.
SHARED = sorted({Path("/usr"), BASE_PYTHON, REPO, VENV.resolve()}, key=lambda p: len(p.parts))
UNIT_DIRS = ("var/lib/ugs-gateway", "var/cache/ugs-gateway")

SETUP = r"""
set -euo pipefail
root="$1"; shift
for dir in "$@"; do
    mkdir -p "$root$dir"
    mount --bind "$dir" "$root$dir"
    mount -o remount,bind,ro "$root$dir"
done
mount --bind "$root.usr-local" "$root/usr/local"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
exec chroot "$root" /bin/bash -c "$COMMAND"
"""


def _namespaces_allowed() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("chroot") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _namespaces_allowed(), reason="needs root and mount namespaces (unshare -m)"
)


class Root:
    """A throwaway root; :meth:`run` runs a shell command chrooted into it."""

    def __init__(self, base: Path) -> None:
        base.chmod(0o755)
        self.path = base / "root"
        for name in ("var/lib", "var/cache", "opt", "tmp", "proc", "dev", "run", "home"):
            (self.path / name).mkdir(parents=True, exist_ok=True)
        (self.path / "tmp").chmod(0o1777)
        shim = base / "root.usr-local" / "sbin" / "systemctl"
        shim.parent.mkdir(parents=True)
        shim.write_text('#!/bin/sh\necho "systemctl $*" >> /run/systemctl.log\n')
        shim.chmod(0o755)
        shutil.copytree("/etc", self.path / "etc", symlinks=True)
        for link in ("bin", "sbin", "lib", "lib64"):
            target = os.readlink(f"/{link}") if os.path.islink(f"/{link}") else None
            if target is not None:
                (self.path / link).symlink_to(target)
        for parent in ("root", "work"):
            (self.path / parent).mkdir(exist_ok=True, mode=0o755)
        (self.path / "example.toml").write_text(CONFIG)

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["unshare", "-m", "--propagation", "private", "bash", "-c", SETUP, "setup",
             str(self.path), *map(str, SHARED)],
            env={"PATH": "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", "COMMAND": command,
                 "LANG": "C.UTF-8"},
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip

    def install(self) -> subprocess.CompletedProcess[str]:
        return self.run(
            f"{REPO}/systemd/install.sh --venv-from {VENV} --config-example /example.toml "
            "--no-start"
        )

    def owners(self) -> dict[str, tuple[int, int, int]]:
        """(uid, gid, mode) of every path the install could touch (not the bound ones)."""
        found = {}
        for top in ("etc", "var", "opt", "tmp", "home", "root"):
            for path in [self.path / top, *(self.path / top).rglob("*")]:
                info = path.lstat()
                found[str(path.relative_to(self.path))] = (
                    info.st_uid,
                    info.st_gid,
                    stat.S_IMODE(info.st_mode),
                )
        return found

    def ids(self, user: str) -> tuple[int, int]:
        """(uid, gid) of ``user`` in the throwaway root."""
        for line in (self.path / "etc/passwd").read_text().splitlines():
            if line.startswith(f"{user}:"):
                fields = line.split(":")
                return int(fields[2]), int(fields[3])
        raise AssertionError(f"no user {user} in the throwaway root")


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Root:
    root = Root(tmp_path_factory.mktemp("install-as-root"))
    out = ok(root.install())
    assert "created system user ugs-gateway" in out
    assert "made the report signing key /etc/ugs-gateway/signing.key" in out
    calls = (root.path / "run/systemctl.log").read_text()
    assert "systemctl daemon-reload" in calls and "systemctl enable ugs-gateway.service" in calls
    return root


def test_a_real_install_gives_the_service_its_directories_and_nothing_else(
    installed: Root,
) -> None:
    uid, gid = installed.ids("ugs-gateway")
    owners = installed.owners()
    for directory in (*UNIT_DIRS, "var/cache/ugs-gateway/numba"):
        assert owners[directory] == (uid, gid, 0o750)
    # Warmed as the service user: its cache and report are its own.
    assert owners["var/cache/ugs-gateway/warmup.json"][0] == uid
    # Config and key: root's, readable by the service's group, by nobody else.
    for secret in ("etc/ugs-gateway/gateway.toml", "etc/ugs-gateway/signing.key"):
        assert owners[secret] == (0, gid, 0o640)
    # Nothing else belongs to the service user.
    theirs = {p for p, (owner, _, _) in owners.items() if owner == uid}
    assert all(p.startswith(UNIT_DIRS) for p in theirs), sorted(theirs)[:5]
    # The service user can read the key through its group (the check ran as that user).
    ok(installed.run(
        "setpriv --reuid=ugs-gateway --regid=ugs-gateway --init-groups "
        f"{VENV}/bin/ugs-gateway key public -c /etc/ugs-gateway/gateway.toml"
    ))  # fmt: skip


@pytest.mark.parametrize(
    ("planted", "target"),
    [
        ("var/cache/ugs-gateway/numba", "etc/victim"),  # install -d / chown would follow
        ("var/cache/ugs-gateway/warmup.json", "etc/victim/secret"),  # root wrote through it
    ],
)
def test_a_planted_symlink_is_refused_and_nothing_outside_changes_owner(
    installed: Root, planted: str, target: str
) -> None:
    root = installed.path
    uid, gid = installed.ids("ugs-gateway")
    victim = root / "etc/victim"
    victim.mkdir(mode=0o700, exist_ok=True)
    (victim / "secret").write_text("root's alone\n")
    (victim / "secret").chmod(0o600)
    link = root / planted
    saved = root / (planted + ".saved")
    link.rename(saved)
    try:
        # What a compromised service can do in its own directory.
        link.symlink_to("/" + target)
        os.lchown(link, uid, gid)
        before = installed.owners()

        proc = installed.install()

        assert proc.returncode != 0, proc.stdout
        assert f"/{planted} is a symbolic link" in proc.stderr
        after = installed.owners()
        changed = {p for p in before if before[p] != after.get(p)}
        assert not {p for p in changed if not p.startswith(UNIT_DIRS)}, sorted(changed)
        assert (victim / "secret").read_text() == "root's alone\n"
        assert after["etc/victim"] == (0, 0, 0o700)
        assert after["etc/victim/secret"] == (0, 0, 0o600)
    finally:
        link.unlink()
        saved.rename(link)
    ok(installed.install())  # with the link gone, the upgrade goes through
