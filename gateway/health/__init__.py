"""The unit's health: what it reports about itself, and to whom.

- ``status``: the status report (sensors, pipeline, outbox, uplinks, the unit), published
  retained on every uplink and summarised for systemd and the demo;
- ``system``: facts about the process and the unit (CPU, memory, disk, temperature, clock);
- ``sdnotify``: ``READY=1``, ``STATUS=`` and the watchdog, gated on real progress.
"""
