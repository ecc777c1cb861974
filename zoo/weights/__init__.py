"""Offline-safe pretrained weights: fetch into the library's usual cache, verify sha256, load tensors only.

    from zoo.weights import ensure_weights, load_state_dict
    path = ensure_weights(spec)          # verified local file; downloads unless offline
    state = load_state_dict(path)        # safetensors or torch.load(weights_only=True)
    folder = ensure_files(spec)          # the weights + the config/tokenizer files loaded with them

Kinds of source (``spec.weights.kind``) and their caches: see ``zoo.weights.sources``. The CLI is
``zoo fetch NAME...`` and ``zoo verify [NAME...]``.
"""

from .integrity import WeightsHashMismatch, WeightsUnavailable, hash_matches, known_sha256, sha256_file
from .sources import cached_path
from .store import ensure_files, ensure_weights, fetch, fetch_from, load_state_dict, verify, weight_files

__all__ = [
    "ensure_weights",
    "ensure_files",
    "weight_files",
    "load_state_dict",
    "fetch",
    "fetch_from",
    "verify",
    "cached_path",
    "sha256_file",
    "known_sha256",
    "hash_matches",
    "WeightsUnavailable",
    "WeightsHashMismatch",
]
