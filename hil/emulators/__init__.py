"""Emulated devices that speak the real protocols, for the real drivers to read.

- ``digitizer``: the seismic digitizer's frames on a pty;
- ``pir``, ``magnetometer``: Modbus devices (``modbus_device``: their register file and FIFO;
  ``modbus_server``: RTU on a pty or TCP on loopback, on pymodbus's servers);
- ``pty``: pty pairs behind by-id style links; ``pacer``: real-time (or faster) pacing;
- ``faults``: the switchboard of faults every emulator obeys (garbage, drops, stalls, unplug);
- ``source``: waveforms to play (arrays, loops); ``ambient``: the default noise and events,
  each emulator's ``WAVEFORM``.

Each kind's emulator module (named by its descriptor in :mod:`drivers.kinds`) also knows how
to start itself in an emulated field station (``start_for_station``).
"""
