"""Polled devices: Modbus RTU and TCP, and what every polled sensor shares.

- ``transport``: a link (one wire: a serial port or a TCP endpoint) on pymodbus's clients,
  with per-request timeouts and errors a technician can act on;
- ``bus``: the one reader thread per wire, which polls each device in turn;
- ``registers``: the register maps (docs/registers.md) and their codecs;
- ``handshake``: identifying a device and setting its sample rate;
- ``fifo_stream``: turning successive FIFO windows into a gap-free, timestamped stream;
- ``sensor``: the base class of the PIR and magnetometer drivers;
- ``pymodbus_adapter``: the one place pymodbus's internals are relied on.
"""
