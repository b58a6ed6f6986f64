# The two commands of the README: `make demo` (the seed's example end to end) and `make test` (the suite).
# Both set up what they need first: a virtualenv with klt and its tools, and Debian's prometheus.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format bench

setup: $(STAMP) /usr/bin/prometheus

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

/usr/bin/prometheus:
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; \
	else \
		echo "Prometheus is missing: run 'sudo apt-get install prometheus' (Debian/Ubuntu)"; exit 1; \
	fi

demo: setup
	$(PY) examples/simplenode-dev/demo.py

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) bench/lifecycle.py
