# The README's two commands: `make demo` and `make test`. Each sets up what it needs first:
# Debian packages (when missing), a virtualenv in .venv, and this package with pinned deps.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# systemd (systemd-analyze), procps (/bin/kill in the unit) and shellcheck: tests/systemd;
# openssl makes the test CA and certificates.
APT_PKGS := mosquitto mosquitto-clients mbpoll systemd procps shellcheck openssl
DEMO_ARGS ?=

.PHONY: demo test lint bench floor-model setup system-packages clean

demo: setup
	$(BIN)/ugs-gateway demo $(DEMO_ARGS)

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile
	$(BIN)/ruff check .
	$(BIN)/mypy

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/ugs-gateway bench

# The packaged floor model (dsp/model-floor.json): the packaged model calibrated on 80
# simulated minutes of homes and the dev split of the real floors prepared under REAL
# (docs/real-data.md). The same command and data give the same file, byte for byte.
REAL ?=
floor-model: setup
	@test -n "$(REAL)" || { echo "make floor-model REAL=DIR: the real data sets prepared as docs/real-data.md says" >&2; exit 2; }
	$(BIN)/ugs-gateway calibrate --simulate home --real $(REAL) --out dsp/model-floor.json

setup: system-packages $(STAMP)

# Installs only what is missing; uses sudo when not already root.
system-packages:
	@missing=""; \
	for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		echo "installing Debian packages:$$missing"; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
