"""Sensor I/O: transports (serial, Modbus RTU/TCP) and one driver per sensor kind."""
