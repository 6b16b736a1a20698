"""A test-only fourth sensor kind, an acoustic sensor, added by the checklist of
docs/sensor-kinds.md: one descriptor, one driver, one emulator, one DSP chain.

It is a microphone behind a digitizer that speaks the seismic digitizer's frame protocol, so
its driver and emulator reuse that protocol's; its chain is the PIR's, on the sound level.
"""
