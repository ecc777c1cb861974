"""ensure / fetch / verify / load: the one path every pretrained model takes to its weight file.

A file is used only after its sha256 matches what the spec pins (a published prefix counts). A cached
copy that does not match is never loaded; in a cache it is moved aside as ``<file>.corrupt-<time>``
(never overwritten or deleted), and a file outside any cache (site-packages, a user's path) is left
where it is and reported. Offline (``ZOO_OFFLINE=1``/``HF_HUB_OFFLINE=1``) nothing is downloaded: a
missing file is a one-line ``WeightsUnavailable`` naming the file and ``zoo fetch NAME``.

A model may load other files from the same source together with its weights (a transformers checkpoint's
config.json and tokenizer files, MiniLM's tokenizer.json): ``spec.extra["weight_files"]`` names them, and
``ensure_files`` / ``zoo fetch`` / ``zoo verify`` treat each exactly like the weight file.

A file zoo has no hash for (no pin in the spec, not an HF cache link to a ``blobs/<sha256>`` or git blob, no
digest recorded at download) is "unpinned": it is refused (``WeightsUnpinned``, one line naming the opt-in)
unless the caller opts in (``zoo eval --allow-unpinned``, ``ZOO_ALLOW_UNPINNED=1``, or
``with zoo.weights.allow_unpinned(): ...``); a model built from it then reports ``weights_id(path)`` =
``"unpinned:<sha256>"``, which its rows record. ``zoo verify`` exits non-zero on it.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import pickle
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Iterable, Mapping

from ..errors import UserError
from ..offline import is_offline
from ..registry import get_spec, list_models
from ..spec import ModelSpec, Weights
from . import sources
from .download import copy_verified
from .zipcheck import check_zip_bounds
from .integrity import (WeightsHashMismatch, WeightsUnavailable, WeightsUnpinned, hash_matches, known_sha256,
                        move_aside, sha256_file)

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ALLOW_UNPINNED_ENV = "ZOO_ALLOW_UNPINNED"  # "1": load weight files zoo cannot check (the CLI's --allow-unpinned)
_allowed_here = 0  # depth of ``with allow_unpinned():`` blocks
_unpinned_loaded: set[str] = set()  # sha256 of the files accepted unpinned in this process


@contextlib.contextmanager
def allow_unpinned():
    """Within this block, a weight file zoo has no hash for is loaded (with a warning) instead of refused;
    the model's ``weights_id`` is then ``"unpinned:<sha256>"``."""
    global _allowed_here
    _allowed_here += 1
    try:
        yield
    finally:
        _allowed_here -= 1


def unpinned_allowed() -> bool:
    return _allowed_here > 0 or os.environ.get(ALLOW_UNPINNED_ENV, "").lower() in ("1", "true", "yes", "on")


def weights_id(path: str | Path) -> str:
    """What a model built from ``path`` records as its weights: the file's sha256, or ``"unpinned:<sha256>"``
    when it was loaded under ``allow_unpinned`` without a hash to check it against."""
    digest = known_sha256(path)
    return f"unpinned:{digest}" if digest in _unpinned_loaded else digest


def unpinned_label(weights: str) -> str:
    """``weights_id`` for a sha256 already known (a builder that got the digest from elsewhere)."""
    return f"unpinned:{weights}" if weights in _unpinned_loaded else weights


def _weights_of(spec_or_weights: ModelSpec | Weights) -> tuple[str, Weights]:
    if isinstance(spec_or_weights, Weights):
        return spec_or_weights.file_name, spec_or_weights
    if spec_or_weights.weights is None:
        raise UserError(f"{spec_or_weights.name} has no pretrained weights registered; build it with pretrained=False")
    return spec_or_weights.name, spec_or_weights.weights


def _check(loc: sources.Location, w: Weights) -> dict:
    """Hash one present copy. Returns a verify row (status ok | unpinned | mismatch); a mismatched copy
    in a cache is moved aside here."""
    digest, expected, ok = sources.check_file(w, loc.path)
    row = {"file": str(loc.path), "where": loc.where, "sha256": digest, "expected": expected, "moved_to": None}
    if ok is None:
        row["status"] = "unpinned"
    elif ok:
        row["status"] = "ok"
    else:
        row["status"] = "mismatch"
        if loc.owned:
            row["moved_to"] = str(move_aside(loc.path))
    return row


def _mismatch_message(name: str, row: dict) -> str:
    fate = f"moved aside to {row['moved_to']}" if row["moved_to"] else f"left in place ({row['where']}, not zoo's to move)"
    return f"{name}: {row['file']} has sha256 {row['sha256'][:16]}…, expected {row['expected']}; not loaded, {fate}"


def ensure_weights(spec: ModelSpec | Weights) -> Path:
    """A verified local copy of the spec's weight file; downloads it into its cache unless offline.

    Raises WeightsUnavailable (offline or network failure, with a one-line fix) or WeightsHashMismatch
    (a bad copy and no way to get a good one now).
    """
    return _ensure(*_weights_of(spec))


def _ensure(name: str, w: Weights) -> Path:
    bad = []
    for loc in sources.locations(w):
        if not loc.path.is_file():
            continue
        row = _check(loc, w)
        if row["status"] == "ok":
            return loc.path
        if row["status"] == "unpinned":
            return _accept_unpinned(name, w, loc.path, row["sha256"])
        log.warning(_mismatch_message(name, row))
        bad.append(row)
    target = sources.cached_path(w)
    if is_offline():
        if bad:
            raise WeightsHashMismatch(_mismatch_message(name, bad[0]) + f"; run `zoo fetch {name}` on a connected machine and {sources.where_to_copy(w)}")
        raise WeightsUnavailable(
            f"{name}: weights file {Path(w.file_name).name} is not cached (looked in {target}) and zoo is offline; "
            f"run `zoo fetch {name}` on a connected machine and {sources.where_to_copy(w)}{_from_hint(name, w)}"
        )
    try:
        return sources.obtain(w)
    except WeightsUnavailable as e:  # pip or the hub client could not get it
        raise WeightsUnavailable(f"{name}: {e}; run `zoo fetch {name}` on a connected machine and {sources.where_to_copy(w)}") from None
    except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, refused or cut connections
        reason = " ".join(str(getattr(e, "reason", None) or e).split()) or type(e).__name__
        raise WeightsUnavailable(
            f"{name}: could not download {w.url} ({reason}); run `zoo fetch {name}` on a connected machine and {sources.where_to_copy(w)}"
        ) from None


def _accept_unpinned(name: str, w: Weights, path: Path, digest: str) -> Path:
    """``path`` when the caller opted in (recorded: ``weights_id`` says unpinned), else WeightsUnpinned."""
    why = ("a plain file, not a link to an HF cache blob (blobs/<sha256>)" if w.kind == "hf-hub" and not path.is_symlink()
           else "no sha256 in the spec and none recorded at download")
    if not unpinned_allowed():
        raise WeightsUnpinned(f"{name}: {path} cannot be checked ({why}; sha256 {digest[:16]}…); not loaded as pretrained. "
                              f"Remove it and run `zoo fetch {name}` for a checked copy, or pass --allow-unpinned "
                              f"({ALLOW_UNPINNED_ENV}=1, zoo.weights.allow_unpinned()) to load it as weights 'unpinned:<sha256>'")
    log.warning("%s: %s cannot be checked (%s); loaded because unpinned weights are allowed, recorded as unpinned:%s",
                name, path, why, digest)
    _unpinned_loaded.add(digest)
    return path


def weight_files(spec: ModelSpec) -> dict[str, str]:
    """The files a model loads together with its weight file (``spec.extra["weight_files"]``: file name
    relative to the weight file's folder -> pinned sha256, "" for the hub's blob id), e.g. config.json and
    the tokenizer files of a transformers checkpoint."""
    return dict(spec.extra.get("weight_files", {}))


def ensure_files(spec: ModelSpec, files: Mapping[str, str] | None = None) -> Path:
    """``ensure_weights`` for the weight file and each of ``files`` (default: ``weight_files(spec)``), every
    one fetched, verified and cached the same way; returns the folder that holds them all (what
    ``from_pretrained`` takes). Raises WeightsUnavailable naming ``zoo fetch NAME`` when one is missing
    offline, WeightsHashMismatch when one is bad."""
    name, w = _weights_of(spec)
    folder = _ensure(name, w).parent
    for file_name, sha in (weight_files(spec) if files is None else files).items():
        got = _ensure(name, sources.companion(w, file_name, sha))
        if got.parent != folder:  # e.g. the weights in site-packages, a tokenizer file only in zoo's cache
            raise UserError(f"{name}: {got.name} was found in {got.parent}, not beside the weights in {folder}; "
                            f"{sources.where_to_copy(w)}")
    return folder


def fetch(name: str) -> Path:
    """``zoo fetch NAME``: make sure the registered model's weights (and the files loaded with them, see
    ``weight_files``) are cached and verified; returns the weight file's path."""
    spec = get_spec(name)
    return ensure_files(spec) / PurePosixPath(spec.weights.file_name).name  # each file verified once


IMPORTABLE_KINDS = ("url", "ultralytics")  # one file at one cache path (zoo or torch hub): ``zoo fetch NAME --from FILE``


def _from_hint(name: str, w: Weights) -> str:
    if w.kind in IMPORTABLE_KINDS and w.sha256:
        return f", or download {w.url} elsewhere and run `zoo fetch {name} --from FILE`"
    return ""


def fetch_from(name: str, src: str | Path) -> Path:
    """``zoo fetch NAME --from FILE``: import a weight file obtained elsewhere into the model's cache.

    The file's sha256 must equal the spec's pinned one (a published prefix counts); otherwise it is
    refused and nothing is copied. The copy is written through a temp file (``copy_verified``), so the
    cache never holds a half-written or unverified file. Returns the cached path.
    """
    spec = get_spec(name)
    _, w = _weights_of(spec)
    src = Path(src).expanduser()
    if w.kind not in IMPORTABLE_KINDS or weight_files(spec):
        raise UserError(f"{name}: --from imports a single weight file, and {name}'s weights ({w.kind}) are not one; "
                        f"run `zoo fetch {name}` on a connected machine and {sources.where_to_copy(w)}")
    if not w.sha256:
        raise UserError(f"{name}: no sha256 is pinned for {Path(w.file_name).name}, so {src} cannot be checked; not imported")
    if not src.is_file():
        raise UserError(f"{name}: {src} is not a file")
    digest = sha256_file(src)
    if not hash_matches(digest, w.sha256):
        raise WeightsHashMismatch(f"{name}: {src} has sha256 {digest}, expected {w.sha256}; not imported, nothing copied")
    dest = sources.cached_path(w)
    if dest.is_file() and _check(sources.Location(dest, owned=True, where="cache"), w)["status"] == "ok":
        return dest  # already there and good (a bad copy was just moved aside by _check)
    copy_verified(src, dest, w.sha256, what=str(src))
    return dest


def verify(names: Iterable[str] | None = None) -> list[dict]:
    """Re-hash every cached copy of the named models' weights (all registered models with weights when
    ``names`` is None). One row per model and location: name, kind, file, where, status (ok | unpinned |
    mismatch | missing), sha256, expected, moved_to. Mismatched copies in caches are moved aside."""
    explicit = names is not None
    rows = []
    for name in (list(names) if explicit else list_models()):
        spec = get_spec(name)
        if spec.weights is None:
            if explicit:
                rows.append({"name": name, "kind": None, "file": None, "where": None, "status": "no-weights",
                             "sha256": None, "expected": None, "moved_to": None})
            continue
        for w in [spec.weights, *(sources.companion(spec.weights, f, h) for f, h in weight_files(spec).items())]:
            present = [loc for loc in sources.locations(w) if loc.path.is_file()]
            if not present:
                rows.append({"name": name, "kind": w.kind, "file": str(sources.cached_path(w)), "where": None,
                             "status": "missing", "sha256": None, "expected": w.sha256, "moved_to": None})
            for loc in present:
                rows.append({"name": name, "kind": w.kind, **_check(loc, w)})
    return rows


_ADVICE = re.compile(r"weights_only|re-run|trusted source|pytorch 2\.6|check the documentation|file an issue|"
                     r"two options|https?://", re.IGNORECASE)


def _unpickle_reason(e: Exception) -> str:
    """torch's reason without its paragraph of advice (which suggests weights_only=False, never zoo's way):
    the sentences that say what the file holds, none that say how to load it anyway."""
    text = " ".join(str(e).split())
    m = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
    text = m.group(1).strip() if m else text
    kept = [s for s in re.split(r"(?<=[.!?])\s+", text) if s and not _ADVICE.search(s)]
    return " ".join(kept)[:200].strip() or type(e).__name__


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a checkpoint: safetensors, or ``torch.load(weights_only=True)`` (no pickled code runs).

    A checkpoint that wraps its tensors (``{"state_dict": ...}``, ``{"model": ...}``) is unwrapped.
    Key order is kept (key remaps check it).
    """
    # deferred: torch (and safetensors.torch, which imports it); zoo fetch / zoo verify never load tensors
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except SafetensorError as e:
            raise UserError(f"{path} is not a safetensors file ({e})") from None
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # torch.save: a zip file, or (legacy) a pickle
        raise UserError(f"{path} is not a checkpoint (neither safetensors nor a torch.save file: it starts with {head!r})")
    if head.startswith(b"PK"):
        check_zip_bounds(path)  # before torch expands any record
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UserError(f"{path} is not a plain tensor checkpoint (zoo's safe loader refused it: "
                        f"{_unpickle_reason(e)}); zoo runs no pickled code") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:  # a cut-off or damaged archive (torch's zip reader)
        raise UserError(f"{path} is not a readable torch checkpoint ({_unpickle_reason(e)})") from None
    if isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise UserError(f"{path} holds no state dict (a mapping of names to tensors)")
    return obj
