"""The walk test end to end: the emulators play a walk test, `walktest` records it in a real
terminal (a pty) with marks from a plan and a distance typed on the keyboard, `calibrate`
writes a site model, and the service loads it on reload and names it in its reports and its
status."""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

from dsp.classifier import load_model
from dsp.records import Detection
from gateway.cli import main
from gateway.config import load_config
from gateway.service import Service
from hil.clips import cut
from hil.marks import plan_from_truth
from hil.playback import apply_calibration, load_playback
from hil.scenarios import generate
from hil.station import EmulatedStation, config_toml

DURATION_S = 58.0
"""One walk past at 2 m (28-48 s), then quiet."""
LEAD_S = 22.0
"""The emulators play the scenario from here: the pass is 6-26 s into what they play."""
PLAN_END_S = 31.0
SEED = 5
BAR = re.compile(r"geo1 +seismic +\|#+\.*\| \+\d+ dB")


class Terminal:
    """A pty the walk test runs in: what it draws, and keys typed into it."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.output = bytearray()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self._cond.notify_all()
                    return
                self.output += data
                self._cond.notify_all()

    def text(self) -> str:
        with self._cond:
            return self.output.decode("utf-8", errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not re.search(pattern, self.output.decode("utf-8", errors="replace")):
                left = deadline - time.monotonic()
                assert left > 0, f"{pattern!r} never showed: {self.output[-2000:]!r}"
                self._cond.wait(left)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        os.close(self.master)


def test_walk_test_to_site_model_to_reports_that_name_it(tmp_path: Path) -> None:
    clip = cut(generate("walktest", DURATION_S, SEED), LEAD_S, DURATION_S)
    playback = load_playback(clip, seed=SEED)
    started = time.time()
    station = EmulatedStation(sources=playback.sources, seed=SEED, runtime_dir=tmp_path / "hil")
    station.start()
    try:
        sensors = station.sensors()
        apply_calibration(sensors, playback)
        config = tmp_path / "gateway.toml"
        base = config_toml(sensors, node_id="wt-0001", site="bench", state_dir=str(tmp_path / "s"))
        config.write_text(base)
        plan = tmp_path / "plan.txt"
        plan.write_text(
            plan_from_truth(playback.truth, duration_s=PLAN_END_S, start=started, seed=SEED)
        )
        walk = tmp_path / "walk"

        # 1. The walk test, in a terminal.
        term = Terminal()
        with (tmp_path / "walktest.log").open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "walktest", "-c", str(config),
                 "--plan", str(plan), "--out", str(walk)],
                stdin=term.slave, stdout=term.slave, stderr=log, start_new_session=True,
            )  # fmt: skip
        os.close(term.slave)
        try:
            term.wait_for(r"now: walk at 2 m", timeout=30)
            term.type("8\r")  # the technician corrects the distance
            term.wait_for(r"footstep +\d\.\d\d  SNR", timeout=40)
            assert proc.wait(timeout=60) == 0, (tmp_path / "walktest.log").read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
            term.close()
        screen = term.text()
        assert BAR.search(screen), screen[-3000:]
        assert "Detected 1 of 1 passes." in screen
        manifest = json.loads((walk / "walktest.json").read_text())
        assert manifest["marks"][0]["kind"] == "walk" and manifest["marks"][0]["range_m"] == 8.0

        # 2. A site model from it (a single pass: forced, whatever it scores).
        site = tmp_path / "site-model.json"
        assert (
            main(["calibrate", str(walk), "--out", str(site), "--anchor-minutes", "0.2", "--force"])
            == 0
        )
        model = load_model(site)
        tag = f"{model.name}@{model.digest}"

        # 3. The service on the packaged model, then reloaded onto the site model, with the
        # emulators playing the pass again.
        station.stop()
        again = load_playback(clip, seed=SEED)
        station = EmulatedStation(sources=again.sources, seed=SEED, runtime_dir=tmp_path / "hil2")
        station.start()
        sensors = station.sensors()
        apply_calibration(sensors, again)
        base = config_toml(sensors, node_id="wt-0001", site="bench", state_dir=str(tmp_path / "s"))
        config.write_text(base)
        reports: list[dict[str, Any]] = []
        got = threading.Event()

        def on_report(report: dict[str, Any], _detection: Detection) -> None:
            reports.append(report)
            if report.get("model") == tag:
                got.set()

        service = Service(load_config(config), config_path=config, on_report=on_report)
        service.start()
        try:
            assert service.health.snapshot()["model"]["name"] == load_model().name
            config.write_text(base + f'\n[dsp.classifier]\nmodel = "{site}"\n')
            assert service.reload()
            deadline = time.monotonic() + 10
            while service.health.snapshot()["model"]["hash"] != model.digest:
                assert time.monotonic() < deadline, service.health.snapshot()["model"]
                time.sleep(0.1)
            assert service.health.snapshot()["model"] == {"name": model.name, "hash": model.digest}
            assert got.wait(45), reports
        finally:
            service.stop()
        assert reports[-1]["model"] == tag and reports[-1]["class"] == "footstep"
    finally:
        station.stop()
