"""The installation walk test (``ugs-gateway walktest``): the session that reads the sensors,
detects and records (``session``), the level meters (``levels``), the screen (``display``),
the keys (``keys``), what was seen against what was marked (``summary``) and the directory it
leaves for ``ugs-gateway calibrate`` (``files``)."""
