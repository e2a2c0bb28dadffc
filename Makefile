# Wilton: `make demo` sets everything up and runs the demo; `make test` runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: setup test test-fast lint-imports bench demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

# Node deps of the dashboard's Grafana schema check (@grafana/schema + TypeScript; tests/test_dashboard.py).
grafana/schema-check/node_modules: grafana/schema-check/package-lock.json
	cd grafana/schema-check && npm ci --no-audit --no-fund
	touch $@

lint-imports: setup
	$(VENV)/bin/lint-imports

test: setup lint-imports grafana/schema-check/node_modules
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not proxy"

bench: setup
	$(PY) bench/bench_decision.py
	$(PY) bench/bench_proxy.py

demo: setup
	$(PY) -m wilton_plugin.demo

clean:
	rm -rf $(VENV) build dist *.egg-info .run
