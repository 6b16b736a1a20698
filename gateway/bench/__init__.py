"""The project's benchmarks, all in one place.

They sit at the top of the layering (they start emulators from ``hil``, the drivers, the
detector and the outbox together), which only ``gateway`` may import, and they ship with
the package because ``ugs-gateway bench`` runs the quick ones on a field unit too. Those that
compare against a reference (ObsPy, scipy) import it lazily and report null without it, so
the service itself never needs a test-only library.

Quick, run by ``ugs-gateway bench`` (each module has a ``BENCHMARKS`` mapping):

- ``seismic_driver``: digitizer frame decoding and a live emulated stream;
- ``modbus_drivers``: Modbus poll round trips against emulated PIR and magnetometer;
- ``detector``: the whole detector against real time, STA/LTA against ObsPy, filters
  against scipy;
- ``outbox``: durable stores per second and the backlog drain (``uplink_drain``).

Longer, run as modules (``python -m gateway.bench.NAME --help``):

- ``service``: the running service as a field unit runs it (CPU, memory, latency);
- ``heldout``: the full held-out evaluation quoted in docs/evaluation.md;
- ``scenario_speed``: how fast the scenario generator makes an hour of signal;
- ``real_data``: the detector on recordings of real sensors, per event and per file; the
  recordings are prepared from local checkouts of their public sources by ``real``
  (``python -m gateway.bench.real.prepare``, docs/real-data.md).
"""

QUICK = (
    "gateway.bench.seismic_driver",
    "gateway.bench.modbus_drivers",
    "gateway.bench.detector",
    "gateway.bench.outbox",
)
"""Modules whose ``BENCHMARKS`` ``ugs-gateway bench`` collects, in this order."""
