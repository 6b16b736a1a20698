"""Step 1: the descriptor. Import this module before the config schema is first imported."""

from __future__ import annotations

from drivers.kinds import SensorKind, add_kind

ACOUSTIC = add_kind(
    SensorKind(
        name="acoustic",
        what="microphone behind a digitizer (frame stream, docs/seismic-protocol.md)",
        reading="stream",
        transports=("serial",),
        rate_range=(250.0, 2000.0),
        units="Pa",
        scale=1e-6,
        bits=24,
        name_prefix="mic",
        seed_codes=("D",),  # SEED: pressure (barometer, hydrophone, microphone)
        short_period=True,
        driver="tests.fourth_kind.driver",
        emulator="tests.fourth_kind.emulator",
        chain="tests.fourth_kind.chain",
        typical_rate=500.0,
        max_components=1,
        components={1: ("D",)},
        frame_bytes=16,
        frames_per_s=50.0,
    )
)
