"""One module per ``ugs-gateway`` command; discovered by ``gateway.cli``."""
