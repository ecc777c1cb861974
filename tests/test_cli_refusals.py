"""Argument errors, unknown models and missing extras are refused before torch is imported, with the
subcommand's usage; the backends' names read from source (no torch) equal the registry's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

HEAVY = ("torch", "torchvision", "transformers", "timm", "ultralytics")

# argv -> what stderr must say. Every case must exit 2 without importing torch.
CASES = {
    ("bench", "x", "--bs", "4"): ["usage: zoo bench", "zoo bench: error: unrecognized arguments: --bs 4"],
    ("eval", "nosuchmodel", "--data", "d"): ["zoo: error: unknown model 'nosuchmodel'"],
    ("eval", "resnet5", "--data", "d"): ["did you mean resnet50"],
    ("bench", "resnet5", "--batch-size", "1"): ["did you mean resnet50"],
    ("eval", "resnet50", "--data", "d", "--bogus"): ["usage: zoo eval", "zoo eval: error: unrecognized arguments: --bogus"],
    ("bench", "resnet50", "--backend", "onnxrutime"): ["unknown backend 'onnxrutime'; did you mean onnxruntime?"],
    ("bench", "resnet50", "--dtype", "fp8"): ["unknown dtype 'fp8'"],
    ("bench", "resnet50", "--batch-size", "x"): ["--batch-size: expected integers"],
    ("bench", "resnet50", "--backend", "openvino"): ["backend openvino needs the openvino package: pip install 'zoo[speed]'"],
    ("eval", "resnet50", "--data", "d", "--backend", "onnxruntime"): ["backend onnxruntime needs the onnxruntime package"],
}

# In a fresh interpreter: each argv through zoo's main, stderr captured; the speed extras made to look missing.
PROBE = r"""
import contextlib, importlib.util, io, json, sys, time
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name in ("openvino", "onnxruntime") else real(name, *a)
from zoo.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    out.append({"argv": argv, "rc": rc, "err": err.getvalue(), "s": time.perf_counter() - t0,
                "heavy": [m for m in HEAVY if m in sys.modules]})
print(json.dumps(out))
"""


def _probe(cases) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    code = f"HEAVY = {HEAVY!r}\n" + PROBE
    r = subprocess.run([sys.executable, "-c", code, json.dumps([list(c) for c in cases])], capture_output=True,
                       text=True, env=env, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def test_refusals_come_before_torch_with_the_subcommands_usage():
    t0 = time.perf_counter()
    results = _probe(CASES)
    wall = time.perf_counter() - t0
    for res in results:
        argv = " ".join(res["argv"])
        assert res["rc"] == 2, (argv, res["err"])
        for text in CASES[tuple(res["argv"])]:
            assert text in res["err"], (argv, res["err"])
        assert res["heavy"] == [], f"zoo {argv} imported {res['heavy']} before refusing"
        assert "usage: zoo [" not in res["err"], f"zoo {argv} showed the top-level usage"
        if "unknown model" in res["err"] or "needs the" in res["err"]:
            assert len(res["err"].strip().splitlines()) == 1, res["err"]  # one line
    # the timing bound is generous (this suite shares busy machines); the torch check above is the strict one
    slowest = max(r["s"] for r in results)
    print(f"slowest refusal {slowest:.3f} s; {len(results)} refusals and the interpreter in {wall:.1f} s")
    assert slowest < 5, results


def test_catalog_read_from_source_equals_the_registry():
    from zoo.harness import backends
    from zoo.harness.backends import catalog

    assert catalog.backend_names() == backends.list_backends()
    assert catalog.declared_dtypes() == backends.backend_dtypes()
    for d in catalog.declared_backends():
        b = backends.get_backend(d["name"])
        assert tuple(b.capabilities.dtypes) == d["dtypes"] and b.priority == d["priority"]
        assert tuple(getattr(b, "needs", ())) == tuple(d.get("needs", ()))


def test_a_backend_registered_from_outside_is_left_to_the_registry(monkeypatch):
    """A name the catalog does not know is refused by the catalog only while no registry is loaded."""
    from zoo.errors import UserError
    from zoo.harness.backends import catalog

    monkeypatch.setitem(sys.modules, "zoo.harness.backends.registry", sys.modules.get("zoo.harness.backends.registry")
                        or object())
    assert catalog.check_backend_name("plugin_backend") is False
    monkeypatch.delitem(sys.modules, "zoo.harness.backends.registry")
    with pytest.raises(UserError, match="unknown backend 'plugin_backend'"):
        catalog.check_backend_name("plugin_backend")
    assert catalog.check_backend_name("eager") is True and catalog.check_dtype(None) is True
