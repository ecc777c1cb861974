"""pytest-benchmark suite for the speed harness (not part of `pytest tests/`; see benchmarks/README.md).

Rows these benchmarks measure go through ``zoo.bench`` into $ZOO_RESULTS_DIR (default results/raw) unless
``--zoo-no-write`` is given. Models come from the registry; weights that are not cached run random-init.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--zoo-no-write", action="store_true", help="do not append rows to results/raw/speed.jsonl")
    parser.addoption("--zoo-models", default=None, help="comma-separated models for the backend ratio benchmark")
    parser.addoption("--zoo-min-duration", type=float, default=3.0, help="seconds timed per configuration")


@pytest.fixture
def zoo_write(request) -> bool:
    return not request.config.getoption("--zoo-no-write")


@pytest.fixture
def zoo_min_duration(request) -> float:
    return request.config.getoption("--zoo-min-duration")


def pytest_generate_tests(metafunc):
    if "ratio_model" in metafunc.fixturenames:
        opt = metafunc.config.getoption("--zoo-models")
        models = opt.split(",") if opt else ["resnet50", "vgg16", "inception_v3", "bert_base"]
        metafunc.parametrize("ratio_model", models)
