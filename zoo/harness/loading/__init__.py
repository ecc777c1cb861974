"""One model loader for every command and the Python API: which weights a model gets is decided here only.

    model, loaded = load_model("efficientnet_lite0")                 # weights="auto"
    model, loaded = load_model("bilstm", "runs/bilstm-sst2")         # a checkpoint: file or folder, detected
    model, loaded = load_model("resnet50", "random")                 # random init on purpose

``weights``:
- ``"auto"``: the task's default checkpoint (text: the folder ``zoo train`` writes) when there is one; else the
  spec's pretrained weights when they are a whole model for its task (fetched unless ``fetch=False``, which
  takes them only when already on disk); else random init. Weights that cannot be had (offline, not cached,
  a copy that does not verify) leave the model at random init and say why in ``loaded.unavailable``:
  ``zoo eval`` refuses such a model, ``zoo bench`` and ``zoo explain`` go on and their rows/pictures say
  "random-init".
- ``"pretrained"``: the spec's published weights (a one-line error when they cannot be had).
- ``"random"``: random init.
- a path: a checkpoint (``zoo.harness.loading.weights``: state-dict file, safetensors, text or vision
  ``zoo train`` folder).
"""

from pathlib import Path

from ...lazy import lazy_getattr

_EXPORTS = {**dict.fromkeys(("Loaded", "load_model", "resolve_weights"), "loader"),
            **dict.fromkeys(("decoded_items", "stored_items"), "examples"),
            **dict.fromkeys(("cached", "load_checkpoint_into", "open_checkpoint"), "weights")}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, Path(__file__).parent, _EXPORTS)  # torch loads with the first name used
