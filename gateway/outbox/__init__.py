"""The outbox: every detection on disk before any uplink sends it, until every partner has it.

- ``store``: the :class:`~gateway.outbox.store.Outbox` (store, pending, ack, listeners);
- ``db``: the SQLite file (schema, opening, the lock, damage detection);
- ``bounds``: ``max_bytes``, ``max_age``, ``min_free_bytes`` and the full disk;
- ``recipients``: which uplinks a file serves (added, released, unclaimed reports);
- ``salvage``: copying what is readable out of a damaged file;
- ``stats``: the figures of ``ugs-gateway outbox stats``, also from another process;
- ``config``: the ``[outbox]`` section.
"""
