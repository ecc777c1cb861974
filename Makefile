# Two commands do all set-up on a fresh machine (see README):
#   make demo   - creates .venv, installs zoo, runs the main job on bundled data, offline
#   make test   - creates .venv, installs zoo with test extras, runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench report gpu-suite clean-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: pip serves this build from local disk where it is cached; zoo never needs newer.
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	ZOO_OFFLINE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(VENV)/bin/zoo demo

test: $(VENV)/.installed
	ZOO_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

# The import layers contract in pyproject.toml ([tool.importlinter]); .ci/run runs it after the tests.
lint: $(VENV)/.installed
	$(VENV)/bin/lint-imports

bench: $(VENV)/.installed
	$(PY) -m pytest benchmarks $(PYTEST_ARGS)

# The GPU suite (zoo/harness/gpu_suite.py): every GPU row in ~10 minutes; rows under $OUT or results/raw.
# Runs with the machine's own python (a GPU machine has torch etc. installed; no venv is built).
gpu-suite:
	PYTHON=$(PYTHON) scripts/gpu_suite.sh

report: $(VENV)/.installed
	$(VENV)/bin/zoo report

clean-venv:
	rm -rf $(VENV)
