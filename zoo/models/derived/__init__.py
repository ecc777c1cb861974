"""Specs derived from a library's own metadata, for names with a source prefix (no hand-written spec).

    timm:<arch>[.<tag>]          timm's pretrained cfg (resolve_data_config), e.g. timm:convnext_tiny
    torchvision:<name>[.<TAG>]   torchvision's weight enum (transforms, categories, meta), e.g. torchvision:regnet_y_400mf
    hf:<repo-id>                 a Hugging Face image classifier in the local HF cache
    ultralytics:<file.pt|yaml>   an ultralytics YOLO detector: a model yaml, or a checkpoint file
    onnx:<file>                  an ONNX image classifier: inputs from the graph, preprocessing from a sidecar or flags

One module per source library (``timm.py``, ``torchvision.py``, ...), each torch-free at import: its
``resolve(rest)`` imports the library when a name is first asked for, and its ``catalog()`` lists what the
installed library offers (``zoo list --all``). This package registers them with the registry by
``"module:function"`` name, so nothing here is imported before it is used. A derived spec is the same
frozen ``ModelSpec`` registered models have; it carries a reference figure only where the library
publishes one for those exact weights (torchvision's ``meta["_metrics"]``), never one zoo has not got.
"""

from __future__ import annotations

from ...registry import register_source

_SOURCES = {
    "timm": ("<arch>[.<tag>]", True),
    "torchvision": ("<name>[.<WEIGHTS_TAG>]", True),
    "hf": ("<repo-id>", True),
    "ultralytics": ("<file.pt|file.yaml>", True),
    "onnx": ("<file.onnx>", False),
}

for _prefix, (_usage, _has_catalog) in _SOURCES.items():
    _module = f"{__name__}.{_prefix}"
    register_source(_prefix, resolve=f"{_module}:resolve", catalog=f"{_module}:catalog" if _has_catalog else None,
                    usage=_usage)
