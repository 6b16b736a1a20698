"""install.sh, run for real into temporary trees (``--root``), never into the system.

Building a virtualenv takes half a minute and the package index, so these runs borrow the
test suite's own venv (``--venv-from``); everything else (config, state, unit, wrapper,
Numba warm-up, check-config, uninstall) is the real code path. Building the venv itself is
checked by hand (docs/technician.md, "Checking the installer itself").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "systemd" / "install.sh"
VENV = Path(sys.prefix)

SENSOR = (
    '[[sensors]]\nname = "geo1"\nkind = "seismic"\ntransport = "serial"\n'
    'port = "/dev/ttyUSB0"\nsample_rate = 500\n'
)
MINIMAL_CONFIG = '[node]\nid = "ugs-0001"\nsite = "test-site"\n' + SENSOR
EDITED_CONFIG = '# edited on site\n[node]\nid = "ugs-0042"\nsite = "sector-12"\n' + SENSOR

# Commands that would touch the system; under --root none of them may run.
SYSTEM_COMMANDS = ("systemctl", "useradd", "groupadd", "usermod", "userdel", "setpriv", "chown")


class Installer:
    """Runs install.sh with a PATH in which every system-changing command is a tripwire."""

    def __init__(self, work: Path) -> None:
        self.example = work / "config.example.toml"
        self.example.write_text(MINIMAL_CONFIG)
        self.tripwire_log = work / "tripwire.log"
        self.bin = work / "bin"
        self.bin.mkdir()
        for name in SYSTEM_COMMANDS:
            shim = self.bin / name
            shim.write_text(f'#!/bin/sh\necho "{name} $*" >> "{self.tripwire_log}"\nexit 1\n')
            shim.chmod(0o755)

    def run(self, tree: Path, *args: str, venv: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["bash", str(SCRIPT), "--root", str(tree), *args]
        if venv and "--uninstall" not in args:
            cmd += ["--venv-from", str(VENV), "--config-example", str(self.example)]
        env = dict(os.environ, PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}")
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert not self.tripwire_log.exists(), self.tripwire_log.read_text()
        return proc


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def snapshot(tree: Path) -> dict[str, tuple[str, int, str]]:
    """Every path in the tree: kind, mode and content hash or link target.

    The Numba cache is left out: its files are the compiler's business.
    """
    found = {}
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree).as_posix()
        if rel.startswith("var/cache/ugs-gateway/"):
            continue
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found[rel] = ("link", 0, os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            found[rel] = ("dir", stat.S_IMODE(info.st_mode), "")
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[rel] = ("file", stat.S_IMODE(info.st_mode), digest)
    return found


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One fresh install (config from the example); tests work on copies of it."""
    work = tmp_path_factory.mktemp("install-base")
    tree = work / "tree"
    out = ok(Installer(work).run(tree))
    yield tree, out


@pytest.fixture
def installer(tmp_path: Path) -> Installer:
    return Installer(tmp_path)


@pytest.fixture
def tree(base: tuple[Path, str], tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(base[0], copy, symlinks=True)
    return copy


def test_fresh_install_lays_out_the_unit(base: tuple[Path, str]) -> None:
    tree, out = base
    assert (tree / "etc/systemd/system/ugs-gateway.service").read_bytes() == (
        ROOT / "systemd/ugs-gateway.service"
    ).read_bytes()
    config = tree / "etc/ugs-gateway/gateway.toml"
    assert config.read_text() == MINIMAL_CONFIG
    assert stat.S_IMODE(config.stat().st_mode) == 0o640  # may hold paths to secrets
    assert (tree / "etc/ugs-gateway/gateway.toml.example").read_text() == MINIMAL_CONFIG
    assert os.readlink(tree / "opt/ugs-gateway/venv") == str(VENV)
    assert (tree / "opt/ugs-gateway/docs/technician.md").exists()
    for directory in ("var/lib/ugs-gateway", "var/cache/ugs-gateway/numba"):
        assert stat.S_IMODE((tree / directory).stat().st_mode) == 0o750
    wrapper = (tree / "usr/local/bin/ugs-gateway").read_text()
    assert "exec setpriv --reuid=ugs-gateway" in wrapper
    assert "NUMBA_CACHE_DIR=/var/cache/ugs-gateway/numba" in wrapper
    # What it would do to the system, said instead of done.
    assert "would run: groupadd --system ugs-gateway; useradd --system" in out
    assert "would run: systemctl daemon-reload" in out
    assert "would run: systemctl enable ugs-gateway.service" in out
    assert "would run: systemctl start ugs-gateway.service" in out


def test_warm_up_ran_with_the_units_cache(base: tuple[Path, str]) -> None:
    tree, out = base
    report = json.loads((tree / "var/cache/ugs-gateway/warmup.json").read_text())
    assert report["cache_dir"] == str(tree / "var/cache/ugs-gateway/numba")
    assert report["kernels"] == len(report["compiled"]) + len(report["cold"])
    assert "==> warm-up:" in out


def test_second_install_changes_nothing_and_keeps_edits_and_state(
    tree: Path, installer: Installer
) -> None:
    config = tree / "etc/ugs-gateway/gateway.toml"
    config.write_text(EDITED_CONFIG)
    state = tree / "var/lib/ugs-gateway"
    (state / "outbox.sqlite").write_bytes(b"SQLite format 3\x00 reports not yet acknowledged")
    (state / "boot").write_text("7\n")
    before = snapshot(tree)

    out = ok(installer.run(tree, "--no-start"))

    assert snapshot(tree) == before
    assert config.read_text() == EDITED_CONFIG
    assert "keeping the existing /etc/ugs-gateway/gateway.toml" in out
    assert "would run: systemctl start" not in out
    assert "not started (--no-start)" in out


def test_reinstall_after_uninstall_picks_up_config_and_state(
    tree: Path, installer: Installer
) -> None:
    ok(installer.run(tree, "--uninstall"))
    config = tree / "etc/ugs-gateway/gateway.toml"
    config.write_text(EDITED_CONFIG)
    (tree / "var/lib/ugs-gateway/boot").write_text("3\n")

    ok(installer.run(tree))

    assert config.read_text() == EDITED_CONFIG
    assert (tree / "var/lib/ugs-gateway/boot").read_text() == "3\n"
    assert (tree / "etc/systemd/system/ugs-gateway.service").exists()


def test_uninstall_keeps_config_and_state(tree: Path, installer: Installer) -> None:
    (tree / "var/lib/ugs-gateway/outbox.sqlite").write_bytes(b"pending")
    out = ok(installer.run(tree, "--uninstall"))

    assert not (tree / "opt/ugs-gateway").exists()
    assert not (tree / "etc/systemd/system/ugs-gateway.service").exists()
    assert not (tree / "var/cache/ugs-gateway").exists()
    assert not (tree / "usr/local/bin/ugs-gateway").exists()
    assert (tree / "etc/ugs-gateway/gateway.toml").read_text() == MINIMAL_CONFIG
    assert (tree / "var/lib/ugs-gateway/outbox.sqlite").read_bytes() == b"pending"
    # The borrowed venv was unlinked, not deleted.
    assert (VENV / "bin" / "ugs-gateway").exists()
    assert "would run: systemctl disable --now ugs-gateway.service" in out
    # Uninstalling twice is not an error.
    ok(installer.run(tree, "--uninstall"))


def test_purge_removes_config_state_and_user(tree: Path, installer: Installer) -> None:
    out = ok(installer.run(tree, "--uninstall", "--purge"))
    assert not (tree / "etc/ugs-gateway").exists()
    assert not (tree / "var/lib/ugs-gateway").exists()
    assert "would run: userdel ugs-gateway" in out


def test_a_config_the_new_version_rejects_stops_the_upgrade(
    tree: Path, installer: Installer
) -> None:
    config = tree / "etc/ugs-gateway/gateway.toml"
    config.write_text('[node]\nid = "ugs-0001"\nsite = "test-site"\ncolour = "blue"\n' + SENSOR)
    unit = tree / "etc/systemd/system/ugs-gateway.service"
    unit.write_text("# the unit of the running version\n")

    proc = installer.run(tree)

    assert proc.returncode == 2
    assert "node.colour" in proc.stderr
    assert "does not pass check-config" in proc.stderr
    # The running version stays as it was: no new unit, no systemctl.
    assert unit.read_text() == "# the unit of the running version\n"
    assert "systemctl" not in proc.stdout


def test_a_foreign_wrapper_is_left_alone(tree: Path, installer: Installer) -> None:
    wrapper = tree / "usr/local/bin/ugs-gateway"
    wrapper.write_text("#!/bin/sh\n# the site's own helper\n")
    out = ok(installer.run(tree))
    assert wrapper.read_text() == "#!/bin/sh\n# the site's own helper\n"
    assert "leaving" in out
    ok(installer.run(tree, "--uninstall"))
    assert wrapper.exists()


def test_missing_example_config_fails_clearly(tmp_path: Path, installer: Installer) -> None:
    tree = tmp_path / "tree"
    proc = installer.run(
        tree, "--config-example", str(tmp_path / "config.example.toml.missing"), venv=False
    )
    assert proc.returncode == 1
    assert "example config" in proc.stderr
    assert "is missing" in proc.stderr
    assert not (tree / "opt").exists()


def test_a_venv_without_the_package_is_refused(tmp_path: Path, installer: Installer) -> None:
    empty = tmp_path / "empty-venv"
    (empty / "bin").mkdir(parents=True)
    proc = installer.run(
        tmp_path / "tree", "--venv-from", str(empty), "--config-example", str(installer.example),
        venv=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "no bin/ugs-gateway in it" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--purge"], "--purge only goes with --uninstall"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["--venv-from"], "--venv-from needs a directory"),
    ],
)
def test_bad_arguments(tmp_path: Path, installer: Installer, args: list[str], message: str) -> None:
    proc = installer.run(tmp_path / "tree", *args, venv=False)
    assert proc.returncode == 1
    assert message in proc.stderr


def test_help() -> None:
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0
    for option in ("--root", "--no-start", "--uninstall", "--purge", "--venv-from"):
        assert option in proc.stdout


def test_without_root_or_privileges_it_refuses(tmp_path: Path) -> None:
    cmd = ["bash", "-s"]
    if os.geteuid() == 0:
        # As an unprivileged user; the script comes on stdin as the checkout may be private.
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    proc = subprocess.run(
        cmd, input=SCRIPT.read_text(), cwd=tmp_path,
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "run as root" in proc.stderr


def test_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (make test installs it)")
    proc = subprocess.run(
        ["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout
