"""Streaming devices: the digitizer's frames on a serial line (docs/seismic-protocol.md).

- ``transport``: a serial port opened from a path or pyserial URL, reopened when it vanishes;
- ``codec``: the frame format, pure functions over bytes;
- ``timing``: sample times from the device's counter, held to the host clock.
"""
