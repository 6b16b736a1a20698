"""The ugs-gateway service: config, pipeline, outbox, MQTT uplinks, health and CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ugs-gateway")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
