"""Emulator of the seismic digitizer: frames of docs/seismic-protocol.md on a pty.

It plays any :class:`~hil.emulators.source.WaveformSource` paced in real time (or ``speed`` times
faster), one frame per ``frame_s`` of samples, and writes them to a pty that the driver
opens through a stable path (a symlink, like ``/dev/serial/by-id/...``).

It behaves like the device under the faults of :mod:`hil.emulators.faults`:

- ``inject_garbage``: the bytes go on the line before the next frame;
- ``corrupt_next``: the next frames go out with one bit flipped in their samples;
- ``drop_next`` / ``silent``: frames are sampled but never reach the line (the counter and
  sequence number move on, so the driver sees a gap);
- ``stall``: the device freezes, neither sampling nor talking, and carries on afterwards as if
  no time had passed (its counter falls behind the host clock);
- ``unplug`` / ``replug``: the pty is closed and the link removed; at replug a new pty appears
  behind the same link; the device keeps sampling meanwhile;
- ``reboot``: counter and sequence start again from 0 with the BOOT flag.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from drivers.stream.codec import (
    FLAG_BOOT,
    FLAG_CLIP,
    FULL_SCALE,
    HEADER_SIZE,
    MAX_CHANNELS,
    MAX_SAMPLES,
    encode_frame,
    rate_code,
)
from hil.emulators.ambient import EventShape, Waveform
from hil.emulators.faults import Faults
from hil.emulators.pacer import Pacer
from hil.emulators.pty import Pty, StableLink
from hil.emulators.source import WaveformSource

if TYPE_CHECKING:
    from hil.station import EmulatedStation

log = logging.getLogger(__name__)

# Bytes held for a reader that is not reading before they are dropped, as a UART would.
BACKLOG_LIMIT = 64 * 1024
LINK_NAME = "usb-UGS_Seismic_Digitizer_EMU0001-if00-port0"


class DigitizerEmulator:
    """One emulated digitizer; ``start()`` returns the path the driver should open."""

    def __init__(
        self,
        source: WaveformSource,
        *,
        speed: float = 1.0,
        bits: int = 24,
        frame_s: float = 0.02,
        faults: Faults | None = None,
        link: str | Path | None = None,
        counter_start: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        rate_code(source.rate)  # ValueError for a rate the protocol cannot carry
        if not 1 <= source.channels <= MAX_CHANNELS:
            raise ValueError(f"the digitizer has 1-{MAX_CHANNELS} channels")
        if bits not in FULL_SCALE:
            raise ValueError("samples are 24 or 32 bits")
        self.source = source
        self.rate = source.rate
        self.channels = source.channels
        self.speed = speed
        self.bits = bits
        self.frame_samples = max(1, min(MAX_SAMPLES, round(source.rate * frame_s)))
        self.faults = faults or Faults()
        self._own_dir: str | None = None
        if link is None:
            self._own_dir = tempfile.mkdtemp(prefix="ugs-digitizer-")
            link = Path(self._own_dir) / "serial" / "by-id" / LINK_NAME
        self.link = StableLink(link)
        self._clock = clock
        self._counter = counter_start
        self._seq = 0
        self._boot = True
        self._pty: Pty | None = None
        self._backlog = bytearray()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()
        """Set when the source has ended and every frame has been handed to the line."""
        self.t_start = 0.0
        """Host-clock time of sample 0 (what the driver's timestamps should reproduce)."""
        self.frames_sent = 0
        self.samples_sent = 0
        self.samples_lost = 0
        """Samples taken but never put on the line (dropped, silent, unplugged)."""
        self.bytes_dropped = 0
        self.cpu_s = 0.0
        """CPU time of the emulator's thread."""

    @property
    def path(self) -> str:
        """What the driver opens: the stable link."""
        return str(self.link.path)

    @property
    def pty_path(self) -> str | None:
        """The pty currently behind the link (changes at every replug)."""
        return self._pty.path if self._pty else None

    def start(self) -> str:
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        self._plug()
        self._thread = threading.Thread(target=self._run, name="digitizer-emulator", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._unplug()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self) -> DigitizerEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the device --------------------------------------------------------------------------

    def _run(self) -> None:
        cpu0 = time.thread_time()
        pacer = Pacer(self.rate, self.speed)
        self.t_start = self._clock()
        position = 0  # samples taken from the source so far
        ended = False
        try:
            while not self._stop.is_set():
                self._apply_plug_state()
                if self.faults.take_reboot():
                    self._counter, self._seq, self._boot = 0, 0, True
                if self.faults.stalled:
                    pacer.pause()
                    self._stop.wait(0.005)
                    continue
                pacer.resume()
                due = pacer.due()
                while not ended and due - position >= self.frame_samples:
                    samples = self.source.read(position, self.frame_samples)
                    if len(samples) == 0:
                        ended = True
                        break
                    position += len(samples)
                    self._emit(samples)
                self._flush()
                if ended and not self._backlog:
                    self.finished.set()
                wait = pacer.seconds_until(position + self.frame_samples)
                self._stop.wait(min(0.05, max(0.0005, wait)))
        except Exception:
            log.exception("digitizer emulator failed")
        finally:
            self.cpu_s = time.thread_time() - cpu0

    def _emit(self, samples: np.ndarray) -> None:
        lo, hi = FULL_SCALE[self.bits]
        flags = FLAG_BOOT if self._boot else 0
        if int(samples.min()) <= lo or int(samples.max()) >= hi:
            samples = np.clip(samples, lo, hi)
            flags |= FLAG_CLIP
        frame = encode_frame(
            samples, seq=self._seq, counter=self._counter, rate=self.rate, bits=self.bits,
            flags=flags,
        )  # fmt: skip
        n = len(samples)
        self._seq = (self._seq + 1) & 0xFFFF
        self._counter = (self._counter + n) & 0xFFFFFFFF
        faults = self.faults
        if self._pty is None or faults.is_silent or faults.take_drop():
            self.samples_lost += n
            return
        self._boot = False
        self._backlog += faults.take_garbage()
        if faults.take_corrupt():
            broken = bytearray(frame)
            broken[HEADER_SIZE + (len(frame) - HEADER_SIZE) // 2] ^= 0x10
            frame = bytes(broken)
        self._backlog += frame
        self.frames_sent += 1
        self.samples_sent += n

    def _flush(self) -> None:
        if self._pty is None or not self._backlog:
            return
        taken = self._pty.write(bytes(self._backlog))
        del self._backlog[:taken]
        if len(self._backlog) > BACKLOG_LIMIT:
            self.bytes_dropped += len(self._backlog)
            self._backlog.clear()

    def _apply_plug_state(self) -> None:
        plugged = self.faults.plugged
        if plugged and self._pty is None:
            self._plug()
        elif not plugged and self._pty is not None:
            self._unplug()

    def _plug(self) -> None:
        self._pty = Pty()
        self.link.point_to(self._pty.path)
        log.debug("digitizer on %s -> %s", self.link.path, self._pty.path)

    def _unplug(self) -> None:
        self.link.remove()
        if self._pty is not None:
            with contextlib.suppress(OSError):
                self._pty.close()
            self._pty = None
        self._backlog.clear()


# -- as part of an emulated field station (hil.station) -------------------------------------

WAVEFORM = Waveform(
    # 24-bit geophone counts: ~300 counts of site noise, knocks of a few 1e5 counts.
    baseline=(0.0, 0.0, 0.0),
    noise=300.0,
    event=EventShape(4e5, 25.0, 0.08, 4.0),
    quiet_rate=500.0,
    quiet_noise=60.0,  # ~60 nm/s at the default scale
    quiet_channels=1,
)
STATION_BAUD = 460800  # 1000 Hz x 3 x 24-bit needs more than 115200 (docs/seismic-protocol.md)


def start_for_station(
    station: EmulatedStation, source: WaveformSource
) -> tuple[DigitizerEmulator, str, str, dict[str, Any]]:
    """Start the station's digitizer on a pty: (emulator, path, what, ``[[sensors]]`` entry)."""
    emulator = DigitizerEmulator(
        source,
        speed=station.speed,
        link=station.link("usb-UGS_Seismic_Digitizer_EMU0001-if00-port0"),
    )
    station.emulators["seismic"] = emulator
    path = emulator.start()
    rate, channels = int(source.rate), source.channels
    return (
        emulator,
        path,
        f"digitizer frames, {rate} Hz × {channels}, 24-bit (pty {emulator.pty_path})",
        {
            "transport": "serial", "port": path, "baudrate": STATION_BAUD, "sample_rate": rate,
            "channels": channels, "sample_bits": 24,
            # ~2.5 nm/s per count: a 24-bit digitizer behind a 28.8 V/(m/s) geophone
            "calibration": {"scale": 2.5e-9, "offset": 0.0, "units": "m/s"},
        },
    )  # fmt: skip
