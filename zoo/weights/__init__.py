"""Offline-safe pretrained weights: fetch into the library's usual cache, verify sha256, load tensors only.

    from zoo.weights import ensure_weights, load_state_dict
    path = ensure_weights(spec)          # verified local file; downloads unless offline
    state = load_state_dict(path)        # safetensors or torch.load(weights_only=True)
    folder = ensure_files(spec)          # the weights + the config/tokenizer files loaded with them

Kinds of source (``spec.weights.kind``) and their caches: see ``zoo.weights.sources``. The CLI is
``zoo fetch NAME...`` and ``zoo verify [NAME...]``.
"""

from .integrity import (WeightsHashMismatch, WeightsUnavailable, WeightsUnpinned, hash_matches, known_sha256,
                        sha256_file)
from .sources import cached_path
from .store import (ALLOW_UNPINNED_ENV, allow_unpinned, ensure_files, ensure_weights, fetch, fetch_from,
                    load_state_dict, unpinned_label, verify, weight_files, weights_id)

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
    "WeightsUnpinned",
    "allow_unpinned",
    "ALLOW_UNPINNED_ENV",
    "weights_id",
    "unpinned_label",
]
