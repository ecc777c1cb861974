"""The options a command taking model names adds for ``onnx:<file>`` names: what the graph cannot say.

``add_source_options(parser)`` adds them; ``apply_source_options(args)`` hands them to the onnx source before
any name is resolved (through the environment, so a sweep's worker processes see them too).
"""

from __future__ import annotations

from ..errors import UserError
from ..models.derived.onnx import set_options


def _shape(text: str) -> list[int]:
    try:
        dims = [int(x) for x in text.lower().replace(",", "x").split("x")]
    except ValueError:
        dims = []
    if len(dims) != 3 or min(dims) <= 0:
        raise UserError(f"--input-shape takes CxHxW, e.g. 3x224x224; got {text!r}")
    return dims


def _triple(flag: str, text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        vals = [float(x) for x in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 3:
        raise UserError(f"{flag} takes three comma-separated numbers (R,G,B), e.g. 0.485,0.456,0.406; got {text!r}")
    return vals


def add_source_options(p) -> None:
    g = p.add_argument_group("onnx:<file> models (what the graph does not say; default: a sidecar "
                             "<file>.json, else ImageNet settings)")
    g.add_argument("--input-shape", metavar="CxHxW", help="the input size of a graph whose H/W are dynamic, e.g. 3x224x224")
    g.add_argument("--resize", type=int, metavar="PX", help="resize the shorter side to PX before the centre crop")
    g.add_argument("--interpolation", choices=("bilinear", "bicubic", "nearest"), help="resize interpolation")
    g.add_argument("--mean", metavar="R,G,B", help="normalization mean of [0, 1] RGB")
    g.add_argument("--std", metavar="R,G,B", help="normalization std of [0, 1] RGB")


def apply_source_options(args) -> None:
    set_options(input_shape=_shape(args.input_shape) if args.input_shape else None, resize_size=args.resize,
                interpolation=args.interpolation, mean=_triple("--mean", args.mean), std=_triple("--std", args.std))
