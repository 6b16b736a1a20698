"""Physical models of what the sensors record: ground, people, animals, vehicles, the PIR,
the magnetometer and the background."""
