"""Test-wide guards: no network, no writes into the user's caches or the repo's results/.

Every test runs with sockets blocked for any address outside loopback (tests that serve files over
HTTP start their server on 127.0.0.1), with HF/ultralytics offline switches on, and with zoo's cache,
torch hub, HF cache and results directory pointed at a per-session temporary folder.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import tempfile
from pathlib import Path

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="zoo-tests-"))
os.environ.update(
    {
        "ZOO_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "0",
        "ZOO_CACHE": str(_SESSION_TMP / "zoo-cache"),
        "TORCH_HOME": str(_SESSION_TMP / "torch"),
        "HF_HOME": str(_SESSION_TMP / "hf"),
        "YOLO_CONFIG_DIR": str(_SESSION_TMP / "ultralytics"),
        "ZOO_RESULTS_DIR": str(_SESSION_TMP / "results-raw"),
        "MPLBACKEND": "Agg",
        "TQDM_DISABLE": "1",
        "ZOO_PREDICT_CACHE": "0",  # zoo predict keeps no warm ONNX copy (seconds each); test_predict's warm tests turn it on
    }
)

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs the suite in as many worker processes as cores (pytest-xdist): one intra-op thread
    # each, in the workers and in the zoo processes tests start, not cores x cores threads fighting
    os.environ["OMP_NUM_THREADS"] = "1"

import helpers  # noqa: E402  (after the environment above: it imports zoo)

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # started in the background by a shell without job control (`(make test &)`), which ignores SIGINT; the
    # tests that send this process a SIGINT check Ctrl-C's behaviour, so Ctrl-C gets Python's own handler
    signal.signal(signal.SIGINT, signal.default_int_handler)

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


class NetworkBlocked(RuntimeError):
    pass


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self, address):
    if not _is_loopback(address):
        raise NetworkBlocked(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_loopback(address):
        raise NetworkBlocked(f"test tried to reach the network: {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost") and not _is_loopback((host, 0)):
        raise NetworkBlocked(f"test tried to resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout; tests that need it skip when it is absent (users lack it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def zoo_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty zoo/torch/HF cache for one test."""
    for var, sub in (("ZOO_CACHE", "zoo"), ("TORCH_HOME", "torch"), ("HF_HOME", "hf")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path / "zoo"


@pytest.fixture
def results_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "raw"
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(d))
    return d


@pytest.fixture
def connects(monkeypatch):
    """Every socket connect and name lookup made during the test, loopback included."""
    calls = []
    real_connect, real_gai = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        calls.append(address)
        return real_connect(self, address)

    def getaddrinfo(host, *a, **k):
        calls.append(host)
        return real_gai(host, *a, **k)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


# --- shared doubles (tests/helpers.py) as fixtures ----------------------------------------------------------

@pytest.fixture
def registered_tiny(monkeypatch):
    """The tiny convnet of tests/helpers.py registered as "speedtest_tiny" for this test."""
    from zoo import registry

    monkeypatch.setitem(registry._REGISTRY, "speedtest_tiny",
                        registry._Entry("speedtest_tiny", "image-classification", "zoo", helpers.tiny_spec))
    registry.get_spec.cache_clear()
    yield "speedtest_tiny"
    registry.get_spec.cache_clear()



@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """(data folder, checkpoint path, trained net): the digits classifier trained on 1,200 digits, its
    ImageFolder of 240 others (tests/helpers.py)."""
    return helpers.train_digits(tmp_path_factory.mktemp("digits"))
