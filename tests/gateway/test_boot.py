"""The boot counter never hands out a number twice: torn or garbled copies, a full disk,
an unusable state dir."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from gateway.boot import FILES, next_boot, read_boot
from gateway.errors import StorageError


def test_counts_from_one_and_creates_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "var" / "lib" / "ugs"
    assert read_boot(state) == 0
    assert [next_boot(state) for _ in range(3)] == [1, 2, 3]
    assert read_boot(state) == 3
    assert sorted(p.name for p in state.iterdir()) == sorted(FILES)  # no temporaries left


@pytest.mark.parametrize("damaged", FILES)
@pytest.mark.parametrize(
    "damage", [b"", b"ugs-boot 00000000000000000", b"ugs-boot 00000000000000000009 deadbeef\n"]
)
def test_one_torn_or_garbled_copy_costs_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damaged: str, damage: bytes
) -> None:
    for _ in range(5):
        next_boot(tmp_path)
    (tmp_path / damaged).write_bytes(damage)
    assert next_boot(tmp_path) == 6
    assert next_boot(tmp_path) == 7
    if damage:
        assert "damaged" in caplog.text


def test_a_stale_copy_does_not_win(tmp_path: Path) -> None:
    for _ in range(3):
        next_boot(tmp_path)
    stale = (tmp_path / "boot").read_bytes()
    next_boot(tmp_path)
    # A mirror that fell behind (crash between the two writes) is ignored: highest wins.
    (tmp_path / "boot.mirror").write_bytes(stale)
    assert next_boot(tmp_path) == 5


def test_both_copies_lost_continues_from_the_clock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    next_boot(tmp_path)
    for name in FILES:
        (tmp_path / name).write_bytes(b"\x00" * 40)
    before = int(time.time())
    value = next_boot(tmp_path)
    assert value > before  # far above anything counted by restarts
    assert "boot counter lost" in caplog.text
    assert next_boot(tmp_path) == value + 1


def test_state_dir_that_cannot_be_used(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="state dir"):
        next_boot(blocker)
    with pytest.raises(StorageError, match="state dir"):
        next_boot(blocker / "sub")


def test_lost_boot_files_do_not_reuse_the_boots_the_outbox_holds(tmp_path: Path) -> None:
    # The service's state: boot 5 stored reports, then the boot files were lost (deleted by
    # hand, or the state dir restored from an old backup) while the outbox survived.
    from gateway.config import parse_config
    from gateway.service import Service
    from tests.gateway.outbox_helpers import fields, open_outbox

    state = tmp_path / "state"
    for _ in range(5):
        next_boot(state)
    with open_outbox(state / "outbox.sqlite", boot=5) as outbox:
        outbox.store(fields())
    for name in FILES:
        (state / name).unlink()
    config = parse_config(
        {
            "node": {"id": "ugs-0007", "site": "sector-12", "state_dir": str(state)},
            "sensors": [
                {"name": "geo1", "kind": "seismic", "transport": "serial",
                 "port": str(tmp_path / "no-such-port"), "sample_rate": 500}
            ],
        }
    )  # fmt: skip
    service = Service(config)
    try:
        assert service.boot == 6
        report = service.outbox.store(fields())
        assert report["id"] == "ugs-0007-6-1"  # not 1-1: receivers would drop it
    finally:
        service.outbox.close()
    assert read_boot(state) == 6


def test_the_boot_counter_is_kept_above_the_floor_it_is_given(tmp_path: Path) -> None:
    assert next_boot(tmp_path, floor=41) == 42
    assert next_boot(tmp_path, floor=3) == 43
