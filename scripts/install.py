"""Install packages into the virtualenv whose python runs this: with uv where it can be had, else with pip.

    .venv/bin/python scripts/install.py "torch==2.14.1" -e ".[test]"

uv installs the same wheels in parallel: `.ci/run`'s install step on a fresh clone (2 cores) took 67-103 s with
pip, 29 s with uv, and 36-46 s with uv compiling the bytecode as below. uv does not read pip's configuration,
so the index settings pip would use (`pip config list`: files and PIP_* variables) are handed to uv as flags,
and uv picks the best match across all indexes as pip does. If uv cannot be installed or fails, pip runs
instead.

Both compile every installed module to bytecode up front. Where PYTHONDONTWRITEBYTECODE is set (it is on these
machines) Python never writes what it compiles, so without this every process compiles each module it imports
again: importing torch, torch._dynamo, sklearn, transformers and zoo took 13-15 s that way and 6-8 s with the
bytecode written (2 cores); the test suite starts dozens of processes.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

UV_FLAGS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
            "constraint": "--constraint"}


def pip_settings() -> dict[str, list[str]]:
    """pip's configured values by option name (e.g. {"find-links": ["/opt/wheels"]}), files and environment."""
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False).stdout
    found: dict[str, list[str]] = {}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        for v in " ".join(shlex.split(value)).split():  # a quoted list: 'file:///a/simple file:///b/simple'
            found.setdefault(name, [])
            if v not in found[name]:
                found[name].append(v)
    return found


def uv_command(args: list[str], settings: dict[str, list[str]]) -> list[str]:
    """The uv install of ``args`` with pip's index ``settings`` (``pip_settings()``) as flags."""
    flags = []
    for name, values in settings.items():
        for v in values if name in UV_FLAGS else []:
            flags += [UV_FLAGS[name], v]
    return [os.path.join(os.path.dirname(sys.executable), "uv"), "pip", "install", "-q", "--python", sys.executable,
            "--index-strategy", "unsafe-best-match", "--compile-bytecode", *flags, *args]


def main(args: list[str]) -> int:
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    if subprocess.run([*pip, "uv"], check=False).returncode == 0:
        settings = pip_settings()
        cert = settings.get("cert")
        env = {**os.environ, **({"SSL_CERT_FILE": cert[0]} if cert else {})}
        if subprocess.run(uv_command(args, settings), env=env, check=False).returncode == 0:
            return 0
        print("install: uv failed; installing with pip", file=sys.stderr)
    return subprocess.run([*pip, *args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
