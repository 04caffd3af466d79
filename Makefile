# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
DEB_PACKAGES := memcached libmemcached-tools libmemcached-dev zlib1g-dev netcat-openbsd gcc make

.PHONY: run test setup deps-debian lint format bench clean

$(STAMP): pyproject.toml
	@echo ">> creating virtualenv in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	@touch $(STAMP)

$(VENV)/.runtime: pyproject.toml
	@echo ">> creating virtualenv in $(VENV) (runtime only)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	@touch $(VENV)/.runtime

# Debian packages the tests use (memcached 1.6.18 as the oracle, libmemcached's tools,
# the headers pylibmc builds against). Installed only when something is missing.
deps-debian:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	    || { echo "error: could not install$$missing; install them with apt-get and retry" >&2; exit 1; }; \
	fi
	@# The Debian package starts a system memcached on 11211; the tests start their own.
	@if command -v systemctl >/dev/null 2>&1; then systemctl stop memcached >/dev/null 2>&1 || true; fi

setup: deps-debian $(STAMP)

# Like memcached, slabcache refuses to run as root without -u; `make run` as root names root.
RUN_USER := $(if $(filter 0,$(shell id -u)),-u root,)

run: $(VENV)/.runtime
	@echo ">> slabcache on 127.0.0.1:11211 (memcached's defaults; Ctrl-C stops it)"
	$(VENV)/bin/slabcache $(RUN_USER) $(ARGS)

test: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

format:
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

# slabcache vs memcached 1.6.18 (-t 1, -t 2) with the C loadgen; results in bench/results/.
# e.g. make bench BENCH_ARGS="--runs 5 --duration 20 --workloads getset,mg"
bench: setup
	$(MAKE) -C bench loadgen
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
	$(MAKE) -C bench clean 2>/dev/null || true
