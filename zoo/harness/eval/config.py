"""``EvalConfig``: every setting of one ``zoo eval`` run, in one frozen dataclass (as ``BenchConfig`` is bench's
and ``TrainConfig`` training's).

Each field declares once, in its metadata, its command-line flag and help; the CLI options
(``add_arguments``), the parsed config (``from_args``), the settings a row records (``recorded``), the row's
identity (``key``) and the command line that reproduces the run (``command``) are all derived from the fields.
Bad values are refused in one line when the config is made, before any model is built.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...spec import WEIGHTS_CHOICES
from .. import backends  # the package; its registry (torch) loads on first use
from ..backends.catalog import PRECISIONS, check_dtype, listed

DECODERS = ("pil", "gpu")


def _opt(default: Any = None, *, flag: str | None = None, type: Any = None, help: str = "", key: bool = True,
         choices: tuple | None = None, metavar: str | None = None) -> Any:
    return field(default=default, metadata={"flag": flag, "type": type, "help": help, "key": key,
                                            "choices": choices, "metavar": metavar})


@dataclass(frozen=True)
class EvalConfig:
    """What to score and how. ``weights``: auto / pretrained / random (``checkpoint`` wins when given)."""

    data: str | None = _opt(flag="--data", help=(
        "image folder, COCO json / YOLO folder, sst2 | multi30k | squad, a file in that format or an HF set "
        "(hf:glue/sst2, hf:ID[:CONFIG]), digits or a CSV (text and tabular models: default their bundled set)"))
    split: str | None = _opt(flag="--split", help="split of a bundled or HF data set (default: test; HF sets "
                                                  "whose test split has no labels: validation)")
    checkpoint: str | None = _opt(flag="--checkpoint", help="a state-dict file (safetensors or torch) or a "
                                                            "checkpoint folder (`zoo train` output)")
    weights: str = _opt("auto", help="auto, pretrained or random (flags --pretrained / --random-init)")
    labels: str | None = _opt(flag="--labels", help=(
        "label file for --data (labels.tsv or '<file> <index>' list) if not inside it; also maps a data set's "
        "classes to the model's (class_index in the model's classes)"))
    limit: int | None = _opt(flag="--limit", type=int, help="evaluate only the first N items (data order)")
    device: str = _opt("cpu", flag="--device", help="cpu, cuda, cuda:1 (default: cpu)")
    batch_size: int | None = _opt(flag="--batch-size", type=int, key=False,
                                  help="default: the task's (32 classification, 8 detection, 64 text)")
    workers: int | None = _opt(flag="--workers", type=int, key=False,
                               help="DataLoader worker processes (images: cores - 1, at most 8; else 0)")
    decode: str = _opt("pil", flag="--decode", choices=DECODERS, key=False,
                       help="gpu: decode JPEGs on CUDA with nvjpeg (tensor resize; falls back to pil without CUDA)")
    backend: str | None = _opt(flag="--backend", metavar="NAME", help=(
        "run the forward through this speed backend (one of: {backends}; default plain fp32 eager): what bf16 "
        "or int8 does to accuracy"))
    dtype: str | None = _opt(flag="--dtype", metavar="DTYPE", help=(
        "with --backend: one of {dtypes} (default fp32; int8 quantizes, calibrated on task data)"))
    precision: str | None = _opt(flag="--precision", choices=PRECISIONS, help=(
        "with --backend eager/compile and bf16/fp16: cast the weights or autocast (default as zoo bench); "
        "openvino --dtype int8 --precision bf16: its unquantized layers in bf16"))
    overrides: dict = field(default_factory=dict, metadata={"flag": None, "key": True})  # model settings

    def __post_init__(self) -> None:
        for name, low in (("limit", 1), ("batch_size", 1), ("workers", 0)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise UserError(f"--{name.replace('_', '-')} must be an integer >= {low}, got {value!r}")
        if self.decode not in DECODERS:
            raise UserError(f"decode must be 'pil' or 'gpu', got {self.decode!r}")
        if self.weights not in WEIGHTS_CHOICES:
            raise UserError(f"weights must be one of {', '.join(WEIGHTS_CHOICES)}, got {self.weights!r}")
        if not check_dtype(self.dtype) and self.dtype not in backends.backend_dtypes():  # the catalog decides first
            raise UserError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(backends.backend_dtypes())}")

    @property
    def model_weights(self) -> Any:
        """What ``load_model`` loads: the checkpoint when given, else auto / pretrained / random."""
        return self.checkpoint if self.checkpoint is not None else self.weights

    def replace(self, **changes: Any) -> EvalConfig:
        from dataclasses import replace
        return replace(self, **changes)

    # --- derived ------------------------------------------------------------------------------------------

    def recorded(self) -> dict[str, Any]:
        """The settings a row records beside what the run resolved (batch size, workers, split...)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) not in (None, {})}

    def key(self, name: str) -> str:
        """Identity of one eval: model, what it scored and how (not batch size, workers or decoder)."""
        ident = {"model": name, **{f.name: getattr(self, f.name) for f in fields(self) if f.metadata["key"]},
                 "device": str(self.device).split(":")[0]}
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def command(self, name: str) -> str:
        """The ``zoo eval`` command line that reproduces this run (flags only where not default)."""
        parts = ["zoo", "eval", name]
        for f in fields(self):
            value, flag = getattr(self, f.name), f.metadata["flag"]
            if flag and value is not None and value != f.default:
                parts += [flag, str(value)]
        if self.checkpoint is None and self.weights != "auto":
            parts.append("--random-init" if self.weights == "random" else "--pretrained")
        for k, v in sorted(self.overrides.items()):
            parts += ["--set", f"{k}={json.dumps(v)}"]
        return shlex.join(parts)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``zoo eval`` options of every EvalConfig field (weights as --pretrained / --random-init)."""
    names, dtypes = listed()  # read from source until the registry is loaded: no torch to build the parser
    fill = {"backends": ", ".join(names), "dtypes": ", ".join(dtypes)}
    for f in fields(EvalConfig):
        meta = f.metadata
        if not meta["flag"]:
            continue
        kw = {"dest": f.name, "help": meta["help"].format(**fill)}
        for k in ("type", "choices", "metavar"):
            if meta.get(k):
                kw[k] = meta[k]
        if f.default is not None:
            kw["default"] = f.default
        p.add_argument(meta["flag"], **kw)
    w = p.add_mutually_exclusive_group()
    w.add_argument("--pretrained", action="store_const", dest="weights", const="pretrained", default="auto",
                   help="load the spec's pretrained weights (default when they are a whole trained model)")
    w.add_argument("--random-init", action="store_const", dest="weights", const="random",
                   help="score random weights on purpose (default: refused when no trained weights are here)")


def config_from_args(args: argparse.Namespace, data: str | None = None) -> EvalConfig:
    """The EvalConfig of parsed ``zoo eval`` arguments (``data``: --data after its deprecated alias)."""
    given = {f.name: getattr(args, f.name) for f in fields(EvalConfig) if hasattr(args, f.name)}
    given["data"] = data if data is not None else given.get("data")
    return EvalConfig(**given)


def from_keywords(data: str | Path | None = None, *, pretrained: bool | None = None, **settings: Any) -> EvalConfig:
    """The EvalConfig of ``zoo.evaluate``'s keyword arguments (``pretrained``: True / False / None = auto)."""
    weights = "random" if pretrained is False else "pretrained" if pretrained else settings.pop("weights", "auto")
    for k in ("checkpoint", "labels"):
        if settings.get(k) is not None:
            settings[k] = str(settings[k])
    return EvalConfig(data=str(data) if data is not None else None, weights=weights,
                      overrides=dict(settings.pop("overrides", None) or {}), **settings)
