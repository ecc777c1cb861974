"""scripts/install.py, the installer `make demo` / `make test` use: pip's index settings reach uv as flags, and
pip installs when uv cannot be had or fails."""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install.py"
LISTING = """:env:.find-links='/opt/wheels'
global.cert='/etc/ssl/certs/ca.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'
global.find-links='/opt/wheels'
global.timeout='60'
"""


@pytest.fixture
def install():
    spec = importlib.util.spec_from_file_location("zoo_install_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fake_run(calls: list, uv_rc: int = 0, uv_installs: bool = True):
    def run(cmd, **kwargs):
        calls.append(cmd)
        if cmd[1:4] == ["-m", "pip", "config"]:
            return subprocess.CompletedProcess(cmd, 0, stdout=LISTING)
        if cmd[-1] == "uv":
            return subprocess.CompletedProcess(cmd, 0 if uv_installs else 1)
        return subprocess.CompletedProcess(cmd, uv_rc if cmd[0].endswith("uv") else 0)
    return run


def test_pip_settings_become_uv_flags_once_each(install, monkeypatch):
    calls: list = []
    monkeypatch.setattr(install.subprocess, "run", _fake_run(calls))
    assert install.main(["torch==2.14.1", "-e", ".[test]"]) == 0
    uv = next(c for c in calls if c[0].endswith("uv"))
    flags = list(itertools.pairwise(uv))
    assert flags.count(("--find-links", "/opt/wheels")) == 1  # given in a file and in PIP_FIND_LINKS
    assert ("--extra-index-url", "file:///opt/a/simple") in flags and ("--extra-index-url", "file:///opt/b/simple") in flags
    assert ("--constraint", "/etc/xdg/pip/constraints.txt") in flags and "--compile-bytecode" in uv
    assert ("--python", sys.executable) in flags and uv[-3:] == ["torch==2.14.1", "-e", ".[test]"]
    assert not any("timeout" in a or "cert" in a for a in uv)  # pip-only settings are not passed on
    assert not any(c[1:4] == ["-m", "pip", "install"] and c[-1] != "uv" for c in calls)  # pip did not install
    assert sum(c[1:4] == ["-m", "pip", "config"] for c in calls) == 1  # pip's settings read once


@pytest.mark.parametrize("uv_installs", [True, False])
def test_pip_installs_when_uv_fails_or_cannot_be_had(install, monkeypatch, capsys, uv_installs):
    calls: list = []
    monkeypatch.setattr(install.subprocess, "run", _fake_run(calls, uv_rc=2, uv_installs=uv_installs))
    assert install.main(["-e", ".[demo]"]) == 0
    assert calls[-1] == [sys.executable, "-m", "pip", "install", "-q", "-e", ".[demo]"]
    assert ("uv failed" in capsys.readouterr().err) == uv_installs
